"""A learned ranker through the registry on the real stack (docs/ltr.md#promotion): the API runs the
`ltr` shadow on its uncached searches and serves the `ltr` canary to a sticky share of shoppers; the
registry's watch moves a version along shadow -> canary -> champion on that evidence, as it does for
ALS. The formula serves until the first learned model is promoted: it is what they are judged
against.

Two models trained on logged windows: one that learned the formula's order (its shadow agrees with
what is served) and one that learned the reverse (it does not, and is dropped)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from pipelines.registry import canary
from pipelines.registry.mirror import MemoryMirror
from pipelines.registry.registry import ModelRegistry
from pipelines.registry.watch import watch_one
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.adapters.search_engine import index_action
from quarry.ltr.feature_log import FeatureRecord
from quarry.ltr.features import FORMULA_FEATURE
from quarry.ltr.featureset import load_featureset
from quarry.ltr.ranker import ARTIFACT, LtrRanker
from quarry.ubi import ubi_timestamp
from tests.integration.conftest import logged_windows, training_set

TRAINING_QUERIES = ["running shoes", "gaming laptop", "office chair", "coffee maker", "yoga mat", "tent"]
TRAFFIC = [
    "wireless headphones",
    "desk lamp",
    "kids bike",
    "coffee maker",
    "office chair",
    "yoga mat",
    "hiking backpack",
    "bluetooth speaker",
    "running shoes",
    "winter jacket",
]
COMPARISONS = 210  # the shadow gate wants 200
POLICY = canary.CanaryPolicy(min_requests=50, max_p95_ratio=3.0)
"""A small sample, and latency left out of it: this is about the flow, not a noisy machine's timing."""


def grades(records: list[FeatureRecord], at: int, reverse: bool) -> list[int]:
    """0 to 4 by fifths of the window in the formula's order (best fifth 4), or the reverse."""
    order = sorted(range(len(records)), key=lambda i: -records[i].features[at])
    grade = [0] * len(records)
    for place, i in enumerate(order):
        grade[i] = 4 - min(4, 5 * place // len(records))
    return [4 - g for g in grade] if reverse else grade


def publish(store: LocalArtifactStore, records: list[FeatureRecord], reverse: bool) -> str:
    featureset = load_featureset(records[0].featureset)
    at = featureset.names.index(FORMULA_FEATURE)
    data = training_set(records, lambda group: grades(group, at, reverse))
    model = LtrRanker(rounds=60)
    model.fit(data)
    meta = {**model.metadata(), "featureset": featureset.name}
    return store.publish(ARTIFACT, model.save(), meta, activate=False)


class Models(msgspec.Struct):
    settings: object
    registry: ModelRegistry
    agreeing: str
    contrary: str


@pytest.fixture
def models(demo_catalog, engine, tmp_path) -> Iterator[Models]:
    """A copy of the demo model store without any LTR version (the formula serves), and the two
    models registered in it."""
    root = Path(tmp_path) / "artifacts"
    shutil.copytree(demo_catalog.artifacts_dir, root)
    shutil.rmtree(root / ARTIFACT, ignore_errors=True)
    settings = msgspec.structs.replace(
        demo_catalog, artifacts_dir=str(root), artifact_reload_interval_s=0.0, search_cache_ttl_s=0
    )
    records = logged_windows(engine, settings, TRAINING_QUERIES)
    registry = ModelRegistry(LocalArtifactStore(root), MemoryMirror())
    agreeing, contrary = publish(registry.store, records, False), publish(registry.store, records, True)
    for version in (agreeing, contrary):
        registry.register(ARTIFACT, version)
    yield Models(settings, registry, agreeing, contrary)


@pytest.fixture
def sources(engine, events_index) -> canary.CanarySources:
    return canary.CanarySources(engine, engine, events_index)


def shadowed(app_client, settings, searches: int) -> None:
    """Uncached searches with the shadow computed for every one (in rounds: a full shadow queue
    drops comparisons rather than delay a search)."""
    with app_client(msgspec.structs.replace(settings, shadow_share=1.0)) as client:
        runner = client.app.state.search_service.ltr.shadow_runner
        for n in range(searches):
            response = client.get("/v1/search", params={"q": TRAFFIC[n % len(TRAFFIC)], "size": 10})
            assert response.status_code == 200, response.text
            if n % 40 == 39:
                runner.drain(timeout_s=120)
        runner.drain(timeout_s=120)


def test_a_shadow_that_agrees_with_what_serves_moves_to_canary_and_a_contrary_one_is_dropped(
    models, app_client, sources
) -> None:
    registry = models.registry
    registry.set_alias(ARTIFACT, "shadow", models.agreeing, reason="offline gate (test)")
    shadowed(app_client, models.settings, COMPARISONS)
    moved = watch_one(registry, sources, ARTIFACT, POLICY)
    assert moved.action == "to_canary", moved.reasons
    assert registry.aliases(ARTIFACT) == {"candidate": models.contrary, "canary": models.agreeing}

    registry.set_alias(ARTIFACT, "canary", None, reason="the test tries the other one")
    registry.set_alias(ARTIFACT, "shadow", models.contrary, reason="offline gate (test)")
    shadowed(app_client, models.settings, COMPARISONS)
    dropped = watch_one(registry, sources, ARTIFACT, POLICY)
    assert dropped.action == "shadow_dropped", dropped.reasons
    assert any("overlap@10" in reason for reason in dropped.reasons)
    assert "shadow" not in registry.aliases(ARTIFACT)


def click(events_index: str, query_id: str, product: str, action: str) -> bytes:
    return index_action(
        events_index,
        f"{query_id}-{action}",
        {
            "event_id": f"{query_id}-{action}",
            "application": "search",
            "action_name": action,
            "query_id": query_id,
            "object_id": product,
            "timestamp": ubi_timestamp(dt.datetime.now(dt.UTC)),
        },
    )


def test_a_canary_ranks_for_a_sticky_share_of_shoppers_and_the_watch_makes_it_champion(
    models, app_client, engine, events_index, sources
) -> None:
    registry, version = models.registry, models.agreeing
    registry.set_alias(ARTIFACT, "canary", version, reason="forced onto the canary by the test")
    settings = msgspec.structs.replace(models.settings, canary_share=0.5)
    served: dict[str, set[str | None]] = {}
    events: list[bytes] = []
    requests = {"canary": 0, "formula": 0}
    with app_client(settings) as client:
        for n in range(260):
            session = f"canary-session-{n % 130}"  # every session searches twice
            params = {"q": TRAFFIC[n % len(TRAFFIC)], "size": 10, "explain": "true", "session_id": session}
            response = client.get("/v1/search", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            ltr = body["results"][0]["score_breakdown"]["ltr"]
            model = ltr["model"] if ltr else None
            served.setdefault(session, set()).add(model)
            variant = "canary" if model == version else "formula"
            requests[variant] += 1
            if requests[variant] % 3 == 0:  # the same click and cart rates in both variants
                first = body["results"][0]["product_id"]
                events += [click(events_index, body["query_id"], first, a) for a in ("click", "add_to_cart")]
        client.app.state.search_service.ltr.canary_traffic.flush()
    engine.bulk(b"".join(events))
    engine.refresh(events_index)

    assert all(len(models_seen) == 1 for models_seen in served.values()), "sticky per shopper"
    assert {m for seen in served.values() for m in seen} == {version, None}
    report = canary.evaluate(sources, ARTIFACT, version, POLICY)
    assert report.canary.requests + report.champion.requests == 260
    assert report.canary.requests == requests["canary"] and report.canary.clicked > 0
    assert report.canary.empty == 0 and report.canary.errors == 0

    promoted = watch_one(registry, sources, ARTIFACT, POLICY)
    assert promoted.action == "to_champion", promoted.reasons
    assert registry.store.current(ARTIFACT) == version
    with app_client(models.settings) as client:
        body = client.get("/v1/search", params={"q": "desk lamp", "size": 5, "explain": "true"}).json()
    assert {r["score_breakdown"]["ltr"]["model"] for r in body["results"]} == {version}

"""Shadow versions on the real stack: a share of ALS recommendations is computed again with the
registry's `shadow` version, off the request path; responses do not change; comparisons reach
Prometheus and the quarry-shadow index, where the promotion gate reads them."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from api.recommendations.schemas import RecommendationsResponse, RecommendedItem
from api.recommendations.services import RecommendationService
from pipelines.registry import gate
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.recommenders import ARTIFACT
from quarry.shadow import INDEX, ShadowRunner
from tests.conftest import shopper_privacy
from tests.integration.test_recommendations import publish

USERS = [f"t{n}" for n in range(1, 15)] + [f"b{n}" for n in range(15, 30)]


@pytest.fixture
def versions(tmp_path) -> tuple[LocalArtifactStore, str, str]:
    artifacts = LocalArtifactStore(tmp_path)
    champion, shadow = publish(artifacts, seed=0), publish(artifacts, seed=1)
    artifacts.set_alias(ARTIFACT, "champion", champion, "test")
    artifacts.set_alias(ARTIFACT, "shadow", shadow, "test")
    return artifacts, champion, shadow


def stored(engine, shadow_version: str) -> list[dict]:
    engine.refresh(INDEX)
    found = engine.search(INDEX, {"size": 100, "query": {"term": {"shadow_version": shadow_version}}})
    return [hit.source for hit in found.hits]


def test_shadow_comparisons_are_recorded_and_responses_do_not_change(engine, store, versions) -> None:
    artifacts, champion, shadow = versions
    plain = RecommendationService(artifacts, store, reload_interval_s=0, privacy=shopper_privacy())
    runner = ShadowRunner(engine, share=1.0)
    shadowed = RecommendationService(
        artifacts, store, reload_interval_s=0, privacy=shopper_privacy(), shadow=runner
    )

    for user in USERS:
        expected = msgspec.structs.replace(plain.for_user(user, 10, None, None, track=False), request_id=None)
        got = msgspec.structs.replace(shadowed.for_user(user, 10, None, None, track=False), request_id=None)
        assert got == expected and got.model_version == champion
    runner.drain()

    records = stored(engine, shadow)
    assert len(records) == len(USERS) and {r["champion_version"] for r in records} == {champion}
    assert all(r["outcome"] == "compared" and 0.0 <= r["overlap_at_10"] <= 1.0 for r in records)
    # Two fits of the same tastes with different seeds agree on much of a top 10, not all of it.
    mean = sum(r["overlap_at_10"] for r in records) / len(records)
    assert 0.2 < mean < 1.0
    decision = gate.shadow(engine, ARTIFACT, shadow)
    assert not decision.passed and f"{len(USERS)} comparisons (need 200)" in decision.reasons[0]


def test_without_a_shadow_alias_nothing_is_computed_again(engine, store, versions) -> None:
    artifacts, _, shadow = versions
    artifacts.set_alias(ARTIFACT, "shadow", None, "test")
    runner = ShadowRunner(engine, share=1.0)
    service = RecommendationService(
        artifacts, store, reload_interval_s=0, privacy=shopper_privacy(), shadow=runner
    )
    service.for_user("t1", 10, None, None, track=False)
    runner.drain()
    assert not engine.index_exists(INDEX) or stored(engine, shadow) == []


def test_a_shadow_that_fails_is_recorded_as_an_error(engine) -> None:
    runner = ShadowRunner(engine, share=1.0)
    version = f"v-{uuid.uuid4().hex[:8]}"
    champion = RecommendationsResponse("collaborative", [RecommendedItem("a", 1.0, "x")], model_version="c1")

    def broken() -> RecommendationsResponse:
        raise RuntimeError("factors do not load")

    assert runner.submit(ARTIFACT, version, champion, broken)
    runner.drain()
    (record,) = stored(engine, version)
    assert record["outcome"] == "error" and record["champion_version"] == "c1"


def test_the_last_comparisons_land_without_another_request(engine) -> None:
    """A quiet period after a few comparisons: the batch is written by the runner's timer, not left
    waiting for the next request (or the shutdown)."""
    import time

    runner = ShadowRunner(engine, share=1.0)
    version = f"v-{uuid.uuid4().hex[:8]}"
    champion = RecommendationsResponse("collaborative", [RecommendedItem("a", 1.0, "x")], model_version="c1")
    assert runner.submit(ARTIFACT, version, champion, lambda: champion)
    deadline = time.monotonic() + 30  # the timer writes every 5 s; generous for a loaded machine
    while time.monotonic() < deadline:
        if engine.index_exists(INDEX) and stored(engine, version):
            break
        time.sleep(0.5)
    (record,) = stored(engine, version)
    assert record["outcome"] == "compared" and record["overlap_at_10"] == 1.0

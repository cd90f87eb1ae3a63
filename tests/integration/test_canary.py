"""Canaries on the real stack (OpenSearch for the records and UBI events, Redis for sessions): the
recommendation service serves a sticky share of shoppers with the registry's canary version and
records every request of the window; simulated shoppers click and add to cart what suits their
tastes, crediting the request id; the registry's watch judges the canary on that traffic.

- a full promotion: candidate -> shadow -> canary -> champion, each step taken by the watch on the
  evidence the traffic left;
- a deliberately bad model (random factors) on the canary is caught by the CTR guardrail and rolled
  back, with the reason in the alias log, while the champion never changed.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

import numpy as np
import pytest

from api.recommendations.services import RecommendationService
from pipelines.recommend.train import Interaction, evaluate_model, serving_files, time_split, to_matrix
from pipelines.registry import canary, gate
from pipelines.registry.mirror import MemoryMirror
from pipelines.registry.registry import ModelRegistry
from pipelines.registry.watch import watch_one
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.adapters.search_engine import index_action
from quarry.canary import CanaryTraffic, bucket
from quarry.recommenders import ARTIFACT, ALSRecommender
from quarry.shadow import ShadowRunner
from quarry.ubi import ubi_timestamp
from tests.conftest import shopper_privacy

SHOPPERS = [f"t{n}" for n in range(150)] + [f"b{n}" for n in range(150, 300)]
"""Many shoppers: variants are assigned per shopper, and with a handful of them the difference
between the two groups of people would swamp the difference between the models."""
POLICY = canary.CanaryPolicy(min_requests=150)
CLICK_IF_SUITED, CLICK_OTHERWISE, CART_AFTER_CLICK = 0.35, 0.02, 0.3


def taste(shopper: str) -> str:
    return "toy" if shopper.startswith("t") else "book"


def history(seed: int) -> list[Interaction]:
    """Toy fans (t...) and book fans (b...), six clicks each on 12 items of their kind."""
    rng = np.random.default_rng(seed)
    rows = [
        Interaction(shopper, f"{taste(shopper)}{item}", "click", f"2026-11-20T{n % 24:02d}:{step:02d}:00Z")
        for n, shopper in enumerate(SHOPPERS)
        for step, item in enumerate(rng.choice(12, size=6, replace=False))
    ]
    return sorted(rows, key=lambda r: r.at)


def publish_measured(store: LocalArtifactStore, seed: int) -> str:
    """A version as the ALS pipeline publishes it: trained on the whole history, with the held-out
    NDCG@10 of a fit on its first 80 % (what the offline gate compares)."""
    rows = history(seed)
    train, targets = time_split(rows)
    held_out = ALSRecommender(factors=8, iterations=15, regularization=0.01, seed=seed)
    train_data = to_matrix(train)
    held_out.fit(train_data)
    ndcg = evaluate_model(held_out, train_data, targets).ndcg_at_10
    data = to_matrix(rows)
    model = ALSRecommender(factors=8, iterations=15, regularization=0.01, seed=seed)
    model.fit(data)
    departments = {item: "Toys" if item.startswith("toy") else "Books" for item in data.item_ids}
    return store.publish(
        ARTIFACT,
        {**model.save(), **serving_files(rows, data, departments)},
        {**model.metadata(), "metrics": {"heldout_ndcg_at_10": ndcg}},
        activate=False,
    )


def publish_random_factors(store: LocalArtifactStore, seed: int) -> str:
    """A model that loads and answers like any other, but whose factors are noise: the kind of bad
    model an offline metric computed on the wrong split could let through."""
    rows = history(0)
    data = to_matrix(rows)
    model = ALSRecommender(factors=8, iterations=1, regularization=0.01, seed=seed)
    model.fit(data)
    rng = np.random.default_rng(seed)
    model.user_factors = rng.normal(size=model.user_factors.shape).astype(np.float32)
    model.item_factors = rng.normal(size=model.item_factors.shape).astype(np.float32)
    departments = {item: "Toys" if item.startswith("toy") else "Books" for item in data.item_ids}
    return store.publish(
        ARTIFACT, {**model.save(), **serving_files(rows, data, departments)}, model.metadata()
    )


class Shoppers:
    """Visits of the simulated shoppers: ask for recommendations, examine position p with
    probability 1/p^0.8, click what suits their taste, sometimes add it to the cart; events go to
    the UBI events index with the response's request id as their query_id."""

    def __init__(self, engine, events_index: str, seed: int) -> None:
        self.engine = engine
        self.events_index = events_index
        self.rng = random.Random(seed)
        self.served: dict[str, set[str]] = {}

    def visit(self, service: RecommendationService, count: int) -> dict[str, int]:
        actions: list[bytes] = []
        per_alias: dict[str, int] = {}
        for _ in range(count):
            shopper = self.rng.choice(SHOPPERS)
            response = service.for_user(shopper, 10, None, None, track=False)
            alias = response.model_alias or "none"
            per_alias[alias] = per_alias.get(alias, 0) + 1
            self.served.setdefault(shopper, set()).add(alias)
            for position, item in enumerate(response.items, start=1):
                examined = self.rng.random() < 1 / position**0.8
                suited = item.product_id.startswith(taste(shopper))
                if examined and self.rng.random() < (CLICK_IF_SUITED if suited else CLICK_OTHERWISE):
                    actions.append(self._event(shopper, response.request_id, item.product_id, "click"))
                    if self.rng.random() < CART_AFTER_CLICK:
                        actions.append(
                            self._event(shopper, response.request_id, item.product_id, "add_to_cart")
                        )
        if actions:
            self.engine.bulk(b"".join(actions))
        self.engine.refresh(self.events_index)
        return per_alias

    def _event(self, shopper: str, request_id: str | None, item: str, action: str) -> bytes:
        event_id = uuid.uuid4().hex
        return index_action(
            self.events_index,
            event_id,
            {
                "event_id": event_id,
                "application": "recommendations",
                "action_name": action,
                "query_id": request_id,
                "user_id": shopper,
                "object_id": item,
                "timestamp": ubi_timestamp(dt.datetime.now(dt.UTC)),
            },
        )


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(LocalArtifactStore(tmp_path), MemoryMirror())


@pytest.fixture
def sources(engine, events_index) -> canary.CanarySources:
    return canary.CanarySources(engine, engine, events_index)


def service_for(registry: ModelRegistry, store, shadow: ShadowRunner | None, traffic: CanaryTraffic | None):
    return RecommendationService(
        registry.store, store, reload_interval_s=0, privacy=shopper_privacy(), shadow=shadow, canary=traffic
    )


def until_sampled(shoppers: Shoppers, service: RecommendationService, traffic: CanaryTraffic) -> None:
    """Visits until both variants have the policy's minimum sample (or a cap: the test then fails
    on the verdict, not by hanging)."""
    totals: dict[str, int] = {}
    for _ in range(20):
        for alias, n in shoppers.visit(service, 100).items():
            totals[alias] = totals.get(alias, 0) + n
        if min(totals.get("canary", 0), totals.get("champion", 0)) >= POLICY.min_requests + 10:
            break
    traffic.flush()


def test_assignment_is_sticky_spread_and_redrawn_for_each_canary() -> None:
    shoppers = [f"user-{n}" for n in range(20_000)]
    first = {s for s in shoppers if bucket("v1", s) < 0.1}
    again = {s for s in shoppers if bucket("v1", s) < 0.1}
    other = {s for s in shoppers if bucket("v2", s) < 0.1}
    assert first == again
    assert 1_800 < len(first) < 2_200  # 10 % give or take 3 standard deviations (~42)
    assert len(first & other) < 300  # independent draws share about 1 % (200), not the same people


def test_a_full_promotion_candidate_shadow_canary_champion(registry, store, engine, sources) -> None:
    champion, candidate = publish_measured(registry.store, seed=0), publish_measured(registry.store, seed=1)
    registry.set_alias(ARTIFACT, "champion", champion, reason="the first version")
    registry.register(ARTIFACT, candidate)
    assert gate.decide(registry, ARTIFACT, candidate, "shadow").passed
    registry.set_alias(ARTIFACT, "shadow", candidate, reason="offline gate (test)")
    assert not gate.decide(registry, ARTIFACT, candidate, "champion", engine).passed  # not from shadow

    shadow_runner, traffic = ShadowRunner(engine, share=1.0), CanaryTraffic(engine, share=0.5)
    service = service_for(registry, store, shadow_runner, traffic)
    shoppers = Shoppers(engine, sources.events_index, seed=7)
    for _ in range(5):  # in rounds: a full shadow queue drops comparisons rather than delay anyone
        shoppers.visit(service, 50)
        shadow_runner.drain()
    assert shoppers.served and all(aliases == {"champion"} for aliases in shoppers.served.values())

    moved = watch_one(registry, sources, ARTIFACT, POLICY)
    assert moved.action == "to_canary", moved.reasons
    assert registry.aliases(ARTIFACT) == {"candidate": candidate, "canary": candidate, "champion": champion}

    shoppers.served.clear()
    until_sampled(shoppers, service, traffic)
    assert all(len(aliases) == 1 for aliases in shoppers.served.values()), "sticky per shopper"
    assert {a for aliases in shoppers.served.values() for a in aliases} == {"canary", "champion"}
    report = canary.evaluate(sources, ARTIFACT, candidate, POLICY)
    assert report.canary.requests >= POLICY.min_requests and report.champion.requests >= POLICY.min_requests
    assert report.canary.clicked > 0 and report.canary.carted > 0 and report.champion.clicked > 0

    promoted = watch_one(registry, sources, ARTIFACT, POLICY)
    assert promoted.action == "to_champion", promoted.reasons
    assert registry.store.current(ARTIFACT) == candidate
    assert registry.aliases(ARTIFACT) == {"candidate": candidate, "champion": candidate}
    assert service.for_user("t1", 10, None, None, track=False).model_version == candidate
    log = registry.store.alias_log(ARTIFACT)
    assert [(c.alias, c.version) for c in log][-4:] == [
        ("canary", candidate),
        ("shadow", None),
        ("champion", candidate),
        ("canary", None),
    ]
    assert log[-2].reason.startswith("canary gate:") and "canary and" in log[-2].reason


def test_a_random_factor_model_is_caught_and_rolled_back_by_the_canary(
    registry, store, engine, sources
) -> None:
    champion, bad = publish_measured(registry.store, seed=0), publish_random_factors(registry.store, seed=3)
    registry.set_alias(ARTIFACT, "champion", champion, reason="the first version")
    registry.register(ARTIFACT, bad)
    registry.set_alias(ARTIFACT, "canary", bad, reason="forced onto the canary by the test")

    traffic = CanaryTraffic(engine, share=0.5)
    service = service_for(registry, store, None, traffic)
    shoppers = Shoppers(engine, sources.events_index, seed=11)
    until_sampled(shoppers, service, traffic)

    report = canary.evaluate(sources, ARTIFACT, bad, POLICY)
    assert report.verdict == "breached", report
    ctr = next(g for g in report.guardrails if g.name == "CTR")
    assert ctr.breached and ctr.canary is not None and ctr.champion is not None and ctr.canary < ctr.champion

    outcome = watch_one(registry, sources, ARTIFACT, POLICY)
    assert outcome.action == "canary_rolled_back"
    assert "canary" not in registry.aliases(ARTIFACT)
    assert registry.store.current(ARTIFACT) == champion
    last = registry.store.alias_log(ARTIFACT)[-1]
    assert last.alias == "canary" and last.version is None and last.previous == bad
    assert last.reason.startswith("rollback: canary") and "guardrail breached: CTR" in last.reason
    # Once the alias is gone every shopper is the champion's again, without a restart.
    assert {service.for_user(s, 10, None, None, track=False).model_version for s in SHOPPERS[::10]} == {
        champion
    }


def test_records_past_their_retention_are_dropped_and_recent_ones_kept(engine) -> None:
    from quarry.canary import INDEX, MAPPING
    from quarry.index_batches import IndexBatches, drop_older_than

    version = f"v-{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    batches = IndexBatches(engine, INDEX, MAPPING)
    for request_id, age_days in (("old", 45), ("recent", 3)):
        record = {"request_id": f"{version}-{request_id}", "canary_version": version, "variant": "canary"}
        batches.add({**record, "at": (now - dt.timedelta(days=age_days)).isoformat()})
    batches.close()
    engine.refresh(INDEX)

    assert drop_older_than(engine, [INDEX], 30, now) >= 1
    left = engine.search(INDEX, {"query": {"term": {"canary_version": version}}, "size": 10})
    assert [hit.source["request_id"] for hit in left.hits] == [f"{version}-recent"]

"""The data-quality checks on real OpenSearch indices with faults put in on purpose."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from pipelines.indexing.versions import build_from_documents
from pipelines.quality import checks, runner
from quarry.adapters.search_engine import index_action
from quarry.data_quality import INDEX
from tests.conftest import make_product

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)


def put(engine, index: str, ages: list[dt.timedelta], **fields: object) -> None:
    """One event per age (before NOW); `fields` override the complete defaults (None drops one)."""
    documents = []
    for age in ages:
        event = {
            "event_id": uuid.uuid4().hex,
            "action_name": "click",
            "object_id": "P1",
            "timestamp": (NOW - age).isoformat(),
        }
        event.update(fields)
        documents.append(
            index_action(index, event["event_id"], {k: v for k, v in event.items() if v is not None})
        )
    engine.bulk(b"".join(documents))
    engine.refresh(index)


def spread(
    count: int, end: dt.timedelta, span: dt.timedelta = dt.timedelta(minutes=50)
) -> list[dt.timedelta]:
    """`count` ages spread over the `span` that ends `end` before NOW (inside that hour's window)."""
    return [end + span * (n + 0.5) / count for n in range(count)]


def test_complete_events_pass_and_a_field_that_goes_null_fails(engine, events_index) -> None:
    put(engine, events_index, spread(100, dt.timedelta(minutes=1)))
    assert (
        checks.completeness(engine, events_index, NOW, checks.EVENT_FIELDS, HOUR, events=True).status
        == "pass"
    )

    put(engine, events_index, spread(5, dt.timedelta(minutes=1)), action_name=None)
    result = checks.completeness(engine, events_index, NOW, checks.EVENT_FIELDS, HOUR, events=True)
    assert result.status == "fail" and result.blocking
    assert result.details["missing"]["action_name"] == 5 and result.observed == pytest.approx(
        5 / 105, abs=1e-6
    )


def test_a_click_without_its_product_counts_as_incomplete(engine, events_index) -> None:
    put(engine, events_index, spread(50, dt.timedelta(minutes=1)))
    put(engine, events_index, spread(3, dt.timedelta(minutes=1)), object_id=None)
    put(engine, events_index, spread(3, dt.timedelta(minutes=1)), object_id=None, action_name="impression")
    result = checks.completeness(engine, events_index, NOW, checks.EVENT_FIELDS, HOUR, events=True)
    assert result.status == "fail" and result.details["missing"]["object_id"] == 3


def history(engine, events_index, per_hour: int) -> None:
    """The same hour on each of the previous 7 days had `per_hour` events."""
    for day in range(1, 8):
        put(engine, events_index, spread(per_hour, dt.timedelta(days=day)))


def test_events_that_stop_while_traffic_is_expected_fail_freshness(engine, events_index) -> None:
    history(engine, events_index, 30)
    put(engine, events_index, [dt.timedelta(minutes=12)])
    stopped = checks.freshness(engine, events_index, NOW)
    assert stopped.status == "fail" and stopped.observed == pytest.approx(720, abs=5)

    put(engine, events_index, [dt.timedelta(seconds=30)])
    assert checks.freshness(engine, events_index, NOW).status == "pass"


def test_a_quiet_shop_is_not_stale(engine, events_index) -> None:
    put(engine, events_index, [dt.timedelta(hours=3)])
    assert checks.freshness(engine, events_index, NOW).status == "skip"


def test_volume_far_below_the_same_hour_on_previous_days_fails(engine, events_index) -> None:
    history(engine, events_index, 40)
    put(engine, events_index, spread(3, dt.timedelta(0)))
    low = checks.volume(engine, events_index, NOW)
    assert low.status == "fail" and low.observed == 3 and low.details["history"] == [40] * 7

    put(engine, events_index, spread(37, dt.timedelta(0)))
    assert checks.volume(engine, events_index, NOW).status == "pass"


def test_volume_is_not_judged_without_three_days_of_history(engine, events_index) -> None:
    put(engine, events_index, spread(40, dt.timedelta(days=1)))
    put(engine, events_index, spread(2, dt.timedelta(0)))
    assert checks.volume(engine, events_index, NOW).status == "skip"


def test_catalog_faults_are_counted_each(engine, settings, alias) -> None:
    products = [
        make_product("OK1", "Oak table", category_path=["Home", "Furniture", "Tables"]),
        make_product("FREE", "Free lamp", price=0.0, category_path=["Home", "Lighting", "Lamps"]),
        make_product("BLANK", "  ", category_path=["Home", "Lighting", "Lamps"]),
    ]
    documents = [(p.product_id, p.to_document()) for p in products]
    documents.append(("NOCAT", {**products[0].to_document(), "product_id": "NOCAT", "category_path": []}))
    for field in ("category_lvl1", "category_lvl2", "category_lvl3"):
        documents[-1][1].pop(field, None)
    build_from_documents(engine, settings, alias, iter(documents), [])

    result = checks.catalog(engine, alias)

    assert result.status == "fail"
    assert result.details["problems"] == {
        "price_not_positive": 1,
        "empty_title": 1,
        "broken_category_path": 1,
        "duplicate_id": 0,
    }


def test_a_retyped_field_fails_the_schema_check(engine, settings, events_index) -> None:
    assert (
        checks.schema(engine, events_index, Path(settings.mappings_dir) / "ubi_events.json").status == "pass"
    )
    wrong = f"qt-dq-wrong-{uuid.uuid4().hex[:8]}"
    engine.create_index(wrong, {"mappings": {"properties": {"timestamp": {"type": "keyword"}}}})
    try:
        result = checks.schema(engine, wrong, Path(settings.mappings_dir) / "ubi_events.json")
    finally:
        engine.delete_index(wrong)
    assert result.status == "fail" and "timestamp: keyword (want date)" in result.message


def test_the_training_suite_records_its_results_and_blocks_on_a_fault(
    engine, settings, events_index, tmp_path
) -> None:
    from quarry.adapters.artifact_store import LocalArtifactStore

    put(engine, events_index, spread(20, dt.timedelta(minutes=1)), action_name=None)  # a field gone null
    put(engine, events_index, spread(20, dt.timedelta(minutes=1)))
    targets = runner.Targets(
        products_alias="unused", mappings_dir=settings.mappings_dir, events_index=events_index
    )

    results = runner.run_suite(engine, LocalArtifactStore(tmp_path), targets, "training", NOW)
    runner.record(engine, results)

    assert [(r.check, r.status) for r in results] == [
        ("schema", "pass"),
        ("freshness", "skip"),
        ("completeness", "fail"),
    ]
    stored = engine.search(INDEX, {"query": {"term": {"run_id": results[0].run_id}}, "size": 10})
    assert sorted(hit.source["check"] for hit in stored.hits) == ["completeness", "freshness", "schema"]
    with pytest.raises(runner.DataQualityError, match="action_name missing in 20 of 40"):
        runner.enforce(results)


def put_affinities(store, stem: str, users: int, seed: int, one_hot: bool = False) -> None:
    """Users' category affinities as the features job writes them: the favourite 1.0, the others a
    share of it (or 0 from a job that broke into one-hot vectors)."""
    import msgspec
    import numpy as np

    rng = np.random.default_rng(seed)
    departments = ["Toys", "Books", "Fashion", "Home", "Beauty"]
    for user in range(users):
        weights = {d: 0.0 if one_hot else float(rng.beta(2, 5)) for d in departments}
        weights[departments[user % 5]] = 1.0
        store.set(f"{stem}:feature:user:u{user}:category_affinity", msgspec.json.encode(weights), ttl_s=300)


def test_user_affinities_that_turn_one_hot_fail_the_drift_check(store) -> None:
    from pipelines.quality import drift

    stem = f"qt-affinity-{uuid.uuid4().hex[:8]}"
    pattern = f"{stem}:feature:user:*:category_affinity"
    try:
        put_affinities(store, stem, 400, seed=1)
        first = drift.affinity_drift(store, pattern, None)
        assert first.status == "skip" and first.details is not None  # the reference for next time
        put_affinities(store, stem, 400, seed=2)  # a day later: other draws of the same tastes
        same = drift.affinity_drift(store, pattern, first.details)
        assert same.status == "pass" and same.observed is not None and same.observed < 0.1
        put_affinities(store, stem, 400, seed=3, one_hot=True)
        broken = drift.affinity_drift(store, pattern, first.details)
        assert broken.status == "fail" and broken.observed is not None and broken.observed > drift.PSI_FAIL
    finally:
        store.delete_matching([f"{stem}:*"])

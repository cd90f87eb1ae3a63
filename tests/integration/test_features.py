"""Popularity and user affinity from events, written to the products index and Redis (real services)."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

from pipelines.features import FeatureSettings, compute_features
from pipelines.indexing.versions import build_from_documents
from quarry.adapters.search_engine import index_action
from tests.conftest import make_product

NOW = dt.datetime.now(dt.UTC)


def put_events(engine, index: str, rows: list[tuple[str, str, str, float]]) -> None:
    """rows: (user_id, action, product_id, age in days)."""
    body = b"".join(
        index_action(
            index,
            uuid.uuid4().hex,
            {
                "event_id": uuid.uuid4().hex,
                "user_id": user,
                "action_name": action,
                "object_id": product,
                "timestamp": (NOW - dt.timedelta(days=age)).isoformat(),
            },
        )
        for user, action, product, age in rows
    )
    engine.bulk(body)
    engine.refresh(index)


def test_popularity_and_affinity(engine, store, settings, alias, events_index) -> None:
    products = [
        make_product("A", "Oak table", category_path=["Home & Kitchen", "Furniture", "Tables"]),
        make_product("B", "Velvet sofa", category_path=["Home & Kitchen", "Furniture", "Sofas"]),
        make_product("C", "Trail bike", category_path=["Sports & Outdoors", "Cycling", "Bikes"]),
        make_product("D", "Yoga mat", category_path=["Sports & Outdoors", "Fitness", "Yoga"]),
    ]
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])
    user = f"ft-{uuid.uuid4().hex[:8]}"
    put_events(
        engine,
        events_index,
        [
            (user, "purchase", "A", 0.0),  # 10
            (user, "click", "B", 0.0),  # 2
            (user, "view", "C", 0.0),  # 1
            ("other", "purchase", "D", 6.0),  # 10, two half-lives old: 2.5
            ("other", "impression", "B", 0.0),  # impressions weigh nothing
            ("other", "purchase", "C", 30.0),  # outside the 14-day window
        ],
    )
    report = compute_features(
        engine,
        store,
        alias,
        FeatureSettings(window_days=14, half_life_days=3, top_k=3),
        now=NOW,
        events_index=events_index,
    )
    assert report.products_updated == 4 and report.events == 4
    scores = {
        p.product_id: engine.search(alias, {"query": {"term": {"product_id": p.product_id}}})
        .hits[0]
        .source["popularity_score"]
        for p in products
    }
    assert scores["A"] == pytest.approx(10, rel=1e-3) and scores["B"] == pytest.approx(2, rel=1e-3)
    assert scores["C"] == pytest.approx(1, rel=1e-3) and scores["D"] == pytest.approx(2.5, rel=1e-3)
    assert msgspec.json.decode(store.get("popular:all:3")) == ["A", "D", "B"]
    assert msgspec.json.decode(store.get("popular:Sports & Outdoors:3")) == ["D", "C"]
    affinity = msgspec.json.decode(store.get(f"feature:user:{user}:category_affinity"))
    assert affinity == {"Home & Kitchen": 1.0, "Sports & Outdoors": pytest.approx(1 / 12, rel=1e-3)}


def test_a_window_that_ends_in_the_past_leaves_later_events_out(
    engine, store, settings, alias, events_index
) -> None:
    products = [make_product("A", "Oak table"), make_product("B", "Velvet sofa")]
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])
    put_events(engine, events_index, [("u1", "purchase", "A", 2.0), ("u1", "purchase", "B", 0.0)])
    report = compute_features(
        engine,
        store,
        alias,
        FeatureSettings(window_days=7, half_life_days=3, top_k=3),
        now=NOW - dt.timedelta(days=1),
        events_index=events_index,
    )
    assert report.events == 1 and report.products_scored == 1  # B's purchase came after the window

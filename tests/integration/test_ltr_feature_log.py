"""LTR feature logging on the real stack (docs/ltr.md#feature-logging): a sampled search's window is
logged off the request path, keyed by its query_id, with the versions that ranked it; the logged
vectors are what offline code recomputes for the same search with the same code; replay logs past
searches once."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import msgspec
import pytest

from pipelines.ltr.replay import PastSearch, replay
from quarry.ltr.feature_log import INDEX_PREFIX, FeatureLog, logged_vectors
from quarry.search.assembly import offline_search_service
from quarry.search.schemas import SearchRequest
from quarry.ubi import UBI_QUERIES

QUERY = "gaming laptop"


@pytest.fixture(scope="module")
def logging_api(demo_catalog, app_client):
    with app_client(msgspec.structs.replace(demo_catalog, ltr_feature_log_share=1.0)) as client:
        yield client


def refreshed(engine) -> None:
    engine.request("POST", f"/{INDEX_PREFIX}-*/_refresh")


def uncached(query: str) -> dict[str, str | float]:
    """Search parameters no earlier search had (a price ceiling above every price), so the search
    ranks its own window: only such a search is logged."""
    return {"q": query, "price_max": 1_000_000 + random.random()}


def test_a_sampled_search_logs_its_window_and_offline_code_recomputes_the_same_vectors(
    logging_api, engine, demo_catalog
) -> None:
    query_id = f"ltr-{uuid.uuid4().hex}"
    params = uncached(QUERY)
    response = logging_api.get("/v1/search", params={**params, "query_id": query_id, "size": 10})
    assert response.status_code == 200, response.text
    shown = [r["product_id"] for r in response.json()["results"]]
    service = logging_api.app.state.search_service
    assert service.feature_log is not None and service.feature_log.flush(timeout_s=60)
    refreshed(engine)
    logged = logged_vectors(engine, query_id)
    assert len(logged) >= len(shown) > 0
    by_rank = sorted(logged.values(), key=lambda r: r.window_rank)
    assert [r.product_id for r in by_rank[: len(shown)]] == shown  # the page is the window's top
    first = by_rank[0]
    assert first.source == "live" and first.featureset == demo_catalog.ltr_featureset
    assert first.ranking_version == service.ranking.get().version and first.model_version == "formula"

    with offline_search_service(demo_catalog, log_queries=False) as offline:
        assert offline.features is not None
        logged_at = dt.datetime.fromtimestamp(first.now_millis / 1000, dt.UTC)
        request = SearchRequest(q=QUERY, price_max=float(params["price_max"]))
        window = offline.feature_window(request, now=logged_at)
        recomputed = offline.features.extract(window.context, window.product_ids)
    assert window.product_ids == [r.product_id for r in by_rank]
    for product, record in logged.items():
        assert record.features == pytest.approx(recomputed.vectors[product], rel=1e-6, abs=1e-9), product


def test_a_search_of_a_shopper_who_opted_out_of_tracking_is_not_logged(logging_api, engine) -> None:
    query_id = f"ltr-{uuid.uuid4().hex}"
    response = logging_api.get(
        "/v1/search",
        params={**uncached(QUERY), "query_id": query_id},
        headers={"Quarry-Consent": "no-tracking"},
    )
    assert response.status_code == 200
    assert response.json()["cache_hit"] is False
    assert logging_api.app.state.search_service.feature_log.flush(timeout_s=60)
    refreshed(engine)
    assert logged_vectors(engine, query_id) == {}


def test_a_cache_hit_is_not_logged_again(logging_api, engine) -> None:
    """It shows the window of the search that filled the cache, which was logged; logging it would
    mean searching again for a copy."""
    params = uncached("office chair")
    first, second = f"ltr-{uuid.uuid4().hex}", f"ltr-{uuid.uuid4().hex}"
    filled = logging_api.get("/v1/search", params={**params, "query_id": first})
    hit = logging_api.get("/v1/search", params={**params, "query_id": second})
    assert (filled.json()["cache_hit"], hit.json()["cache_hit"]) == (False, True)
    assert logging_api.app.state.search_service.feature_log.flush(timeout_s=60)
    refreshed(engine)
    assert logged_vectors(engine, first) and logged_vectors(engine, second) == {}


def test_a_search_in_another_order_is_not_logged(logging_api, engine) -> None:
    """Clicks on a page sorted by price say nothing about the relevance ranking."""
    query_id = f"ltr-{uuid.uuid4().hex}"
    params = {**uncached(QUERY), "query_id": query_id, "sort": "price_asc"}
    assert logging_api.get("/v1/search", params=params).status_code == 200
    assert logging_api.app.state.search_service.feature_log.flush(timeout_s=60)
    refreshed(engine)
    assert logged_vectors(engine, query_id) == {}


def test_replay_logs_a_past_search_once(api_client, engine, demo_catalog) -> None:
    query_id = f"ltr-replay-{uuid.uuid4().hex}"
    assert api_client.get("/v1/search", params={"q": "office chair", "query_id": query_id}).status_code == 200
    assert api_client.app.state.search_service.query_log.flush(timeout_s=30)
    engine.refresh(UBI_QUERIES)
    past = [PastSearch(query_id=query_id, user_query="office chair")]
    with offline_search_service(demo_catalog, log_queries=False) as offline:
        assert offline.features is not None
        feature_log = FeatureLog(engine, offline.features, offline.feature_window, share=1.0)
        first = replay(feature_log, engine, past)
        refreshed(engine)
        again = replay(feature_log, engine, past)
    assert (first.replayed, first.failed) == (1, 0) and first.records > 0
    assert (again.replayed, again.already_logged) == (0, 1)
    records = logged_vectors(engine, query_id)
    assert len(records) == first.records and {r.source for r in records.values()} == {"replay"}

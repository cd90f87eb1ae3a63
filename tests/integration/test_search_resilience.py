"""Redis trouble never fails a search; OpenSearch trouble fails fast behind a circuit breaker; every
search is logged to ubi_queries; ranking config via Redis."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from quarry.adapters.cache import RedisStore
from quarry.adapters.search_engine import OpenSearchEngine, SearchEngineError
from quarry.circuit import CircuitBreaker
from quarry.search.ranking import CONFIG_KEY, load_config_file


def test_redis_down_serves_searches_and_reports_the_bypassed_cache(app_client, demo_catalog) -> None:
    dead = msgspec.structs.replace(demo_catalog, redis_url="redis://127.0.0.1:1/0", cache_warm_queries=0)
    with app_client(dead, store=RedisStore(dead.redis_url, timeout_s=0.05)) as client:
        queries = ["sofa", "tent", "lipstick", "laptop", "yoga mat", "blender", "teddy bear"]
        bodies = [client.get("/v1/search", params={"q": q, "size": 3}) for q in queries]
    assert all(b.status_code == 200 for b in bodies)
    assert all(b.json()["results"] for b in bodies)
    assert bodies[-1].json()["degraded"] == ["cache"]  # three misses, six failed calls: the circuit opened
    assert bodies[0].json()["degraded"] == []


def test_every_search_is_written_to_ubi_queries(engine, api_client, pseudonyms) -> None:
    session = f"s-{uuid.uuid4().hex[:8]}"
    body = api_client.get(
        "/v1/search", params={"q": "velvet sofa", "size": 4, "session_id": session, "user_id": "u-1"}
    ).json()
    api_client.app.state.search_service.query_log.flush()
    engine.refresh("ubi_queries")
    logged = engine.get_document("ubi_queries", body["query_id"])
    assert logged is not None
    assert (
        logged["user_query"] == "velvet sofa"
        and logged["user_id"] == pseudonyms.user("u-1")
        and logged["session_id"] == session
    )
    assert logged["query_response_hit_ids"] == [r["product_id"] for r in body["results"]]
    assert logged["application"] == "quarry" and logged["timestamp"]


def test_full_query_log_queue_drops_are_counted_not_blocking(app_client, demo_catalog) -> None:
    tiny = msgspec.structs.replace(demo_catalog, ubi_queue_capacity=1)
    with app_client(tiny) as client:
        writer = client.app.state.search_service.query_log
        writer.stop()  # nothing drains the queue now
        statuses = [client.get("/v1/search", params={"q": "sofa", "size": 1}).status_code for _ in range(4)]
    assert statuses == [200] * 4
    assert writer.dropped >= 2


def test_ranking_config_is_read_through_redis(app_client, demo_catalog, store) -> None:
    shipped = load_config_file(demo_catalog.ranking_config)
    store.delete(CONFIG_KEY)
    with app_client(demo_catalog) as client:
        client.get("/v1/search", params={"q": "sofa", "size": 1})
        assert msgspec.json.decode(store.get(CONFIG_KEY)).get("version") == shipped.version
        provider = client.app.state.search_service.ranking
        try:
            # Operators push a newer version: it wins over the file.
            pushed = msgspec.structs.replace(shipped, version="2999-01-01.1", keyword_weight=0.3)
            store.set(CONFIG_KEY, msgspec.json.encode(pushed), ttl_s=60)
            assert provider.refresh().keyword_weight == 0.3
            # A stale copy (older than the deployed file) is replaced by the file, in Redis too.
            stale = msgspec.structs.replace(shipped, version="2000-01-01.9", keyword_weight=0.9)
            store.set(CONFIG_KEY, msgspec.json.encode(stale), ttl_s=60)
            assert provider.refresh().version == shipped.version
            assert msgspec.json.decode(store.get(CONFIG_KEY)).get("version") == shipped.version
        finally:
            store.delete(CONFIG_KEY)  # a pushed config must not outlive the test


def test_opensearch_down_opens_its_circuit_and_searches_fail_fast_with_503(app_client, demo_catalog) -> None:
    dead = msgspec.structs.replace(
        demo_catalog, opensearch_url="http://127.0.0.1:1", cache_warm_queries=0, search_cache_ttl_s=0
    )
    with app_client(dead) as client:
        engine = client.app.state.engine
        breaker = engine._breaker
        answers = [client.get("/v1/search", params={"q": f"tent {n}"}) for n in range(8)]
        assert all(a.status_code == 503 for a in answers)
        assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers)
        assert breaker.state == "open"
        metrics = client.get("/metrics").text
        assert 'quarry_circuit_open{breaker="opensearch"} 1.0' in metrics
        assert client.get("/health/ready").status_code == 503
        # Once open, calls are not sent at all: the connection-error count stops growing.
        sent = _opensearch_errors(metrics)
        client.get("/v1/search", params={"q": "tent again"})
        assert _opensearch_errors(client.get("/metrics").text) == sent


def _opensearch_errors(metrics: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "quarry_dependency_errors_total" and sample.labels["dependency"] == "opensearch"
    )


def test_a_4xx_answer_keeps_the_opensearch_circuit_closed(settings) -> None:
    breaker = CircuitBreaker("opensearch-4xx-test", threshold=2)
    engine = OpenSearchEngine(settings.opensearch_url, breaker=breaker)
    for _ in range(3):
        with pytest.raises(SearchEngineError) as failed:
            engine.search("products", {"query": {"no_such_query": {}}})
        assert failed.value.status == 400
    assert breaker.state == "closed"


class _FailingEngine(OpenSearchEngine):
    """The real engine until `down` is set; then every search and alias read fails like an outage."""

    down = False

    def alias_targets(self, alias: str) -> list[str]:
        if self.down:
            raise SearchEngineError("OpenSearch unreachable", status=None)
        return super().alias_targets(alias)

    def search(self, index: str, body: Any, named_scores: bool = False) -> Any:
        if self.down:
            raise SearchEngineError("OpenSearch unreachable", status=None)
        return super().search(index, body, named_scores)


def test_cached_pages_are_still_served_while_opensearch_is_down(
    app_client, demo_catalog, monkeypatch
) -> None:
    from quarry.search import catalog_version as services

    engine = _FailingEngine(demo_catalog.opensearch_url)
    settings = msgspec.structs.replace(demo_catalog, cache_warm_queries=0)
    with app_client(settings, engine=engine) as client:
        query = {"q": "sleeping bag", "price_max": 10_000 + uuid.uuid4().int % 10**6}
        assert client.get("/v1/search", params=query).status_code == 200
        engine.down = True
        monkeypatch.setattr(services, "CATALOG_VERSION_TTL_S", 0.0)  # every search asks OpenSearch again
        cached = client.get("/v1/search", params=query)
        assert cached.status_code == 200 and cached.json()["cache_hit"] is True
        assert client.get("/v1/search", params={"q": "camping stove"}).status_code == 503

"""`GET /metrics`: RED metrics by route template with bounded labels, business and dependency metrics,
and every worker's counts with several uvicorn workers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import running_api

RESIDENT_MEMORY = "quarry_process_resident_memory_bytes"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Sample values of one metric family by their sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def request_count(text: str, route: str, status_class: str = "2xx") -> float:
    found = samples(text, "quarry_http_requests_total")
    return found.get((("method", "GET"), ("route", route), ("status_class", status_class)), 0.0)


def test_requests_are_counted_by_route_template(api_client) -> None:
    before = api_client.get("/metrics").text
    for product_id in ("P000001", "P000002", "NO-SUCH-ID"):
        api_client.get(f"/v1/products/{product_id}")
    after = api_client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    route = "/v1/products/{product_id}"
    assert request_count(after.text, route) - request_count(before, route) == 2
    assert request_count(after.text, route, "4xx") - request_count(before, route, "4xx") == 1
    assert "P000001" not in after.text  # never a raw path
    buckets = samples(after.text, "quarry_http_request_duration_seconds_bucket")
    bounds = {float(dict(labels)["le"]) for labels in buckets if dict(labels)["route"] == route}
    assert {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0} <= bounds


def test_a_thousand_distinct_paths_add_no_series(api_client) -> None:
    api_client.get("/definitely/not/a/route")
    first = api_client.get("/metrics").text
    before = len(samples(first, "quarry_http_requests_total"))
    for n in range(1000):
        assert api_client.get(f"/random/{n}/path-{n * 7}").status_code == 404
        api_client.get(f"/v1/products/unknown-{n}")
    text = api_client.get("/metrics").text
    assert len(samples(text, "quarry_http_requests_total")) <= before + 2
    assert request_count(text, "<unmatched>", "4xx") - request_count(first, "<unmatched>", "4xx") == 1000


def test_business_metrics_follow_searches(api_client) -> None:
    def value(text: str, name: str) -> float:
        return sum(samples(text, name).values())

    before = api_client.get("/metrics").text
    api_client.get("/v1/search", params={"q": "qwzxvj plorf", "size": 5})  # finds nothing
    api_client.get("/v1/search", params={"q": "runnig shoes", "size": 5})  # corrected
    after = api_client.get("/metrics").text
    assert value(after, "quarry_searches_total") - value(before, "quarry_searches_total") == 2
    zero = "quarry_zero_result_searches_total"
    assert value(after, zero) - value(before, zero) == 1
    corrections = "quarry_spell_corrections_total"
    assert value(after, corrections) - value(before, corrections) == 1
    opensearch = samples(after, "quarry_dependency_duration_seconds_count")
    assert any(dict(labels) == {"dependency": "opensearch", "operation": "search"} for labels in opensearch)


def test_every_workers_counts_are_reported(demo_catalog, auth_headers) -> None:
    env = {
        "QUARRY_API_WORKERS": "2",
        "QUARRY_PRODUCTS_ALIAS": demo_catalog.products_alias,
        "QUARRY_ARTIFACTS_DIR": demo_catalog.artifacts_dir,
    }
    with running_api(**env) as (base, _, _):
        # The first worker answers while the second still loads its models (the category router's
        # mpnet takes seconds): wait until both report their process metrics, which they start last.
        for _ in range(300):
            text = httpx.get(f"{base}/metrics", headers=auth_headers, timeout=5).text
            if len({dict(labels)["pid"] for labels in samples(text, RESIDENT_MEMORY)}) == 2:
                break
            time.sleep(0.2)
        before = request_count(
            httpx.get(f"{base}/metrics", headers=auth_headers, timeout=5).text, "/health/live"
        )  # start-up polls
        port = base.rsplit(":", 1)[1]
        # A new connection each time, so both workers take some; the kernel decides which worker
        # accepts, and may hand a short run of connections to one, so send until both have counted.
        sent = 0
        per_worker: list[float] = []
        while sent < 600 and sum(1 for n in per_worker if n > 0) < 2:
            for _ in range(20):
                assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
            sent += 20
            per_worker = worker_counts(Path(demo_catalog.var_dir) / "prometheus" / port, "/health/live")
        text = httpx.get(f"{base}/metrics", headers=auth_headers, timeout=5).text
        assert request_count(text, "/health/live") - before == sent
        # Proof that the sum spans workers: each worker's own file counted some of the requests.
        assert sum(1 for n in per_worker if n > 0) >= 2, per_worker
        # Process metrics are per worker (pid label): both workers, with live values.
        memory = samples(text, RESIDENT_MEMORY)
        cpu = samples(text, "quarry_process_cpu_seconds")
        pids = {dict(labels)["pid"] for labels in memory}
        assert len(pids) == 2 and pids == {dict(labels)["pid"] for labels in cpu}
        assert all(value > 50e6 for value in memory.values()), memory  # a loaded worker, not a stub
        assert all(value > 0 for value in cpu.values())


def worker_counts(directory: Path, route: str) -> list[float]:
    """Each worker's own count of a route, read from its file alone."""
    counts = []
    for path in directory.glob("counter_*.db"):
        registry = CollectorRegistry()
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):
            registry.register(_Fixed(family))
        counts.append(request_count(generate_latest(registry).decode(), route))
    return counts


class _Fixed:
    """A collector that returns one already merged family (to render one worker's file alone)."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> list[Metric]:
        return [self._family]


def test_series_that_alerts_rate_exist_before_the_first_error(api_client) -> None:
    """A series born with its first increment makes rate() miss that increment: the 5xx count of
    every route and the error count of the request path's calls are published at 0 from start-up."""
    text = api_client.get("/metrics").text
    fivexx = samples(text, "quarry_http_requests_total")
    for route in ("/v1/search", "/v1/products/{product_id}", "/v1/events", "/v1/recommendations"):
        method = "POST" if route == "/v1/events" else "GET"
        assert (("method", method), ("route", route), ("status_class", "5xx")) in fivexx
    errors = samples(text, "quarry_dependency_errors_total")
    assert (("dependency", "opensearch"), ("operation", "search")) in errors
    assert (("dependency", "redis"), ("operation", "get")) in errors


def test_pools_and_served_artifact_versions_are_exposed(api_client, demo_catalog) -> None:
    api_client.get("/v1/search", params={"q": "tent", "size": 5})
    text = api_client.get("/metrics").text
    assert samples(text, "quarry_dependency_pool_size") == {
        (("dependency", "opensearch"),): demo_catalog.opensearch_pool_size,
        (("dependency", "redis"),): demo_catalog.redis_pool_size,
    }
    api_client.app.state.search_service.query_log.flush()  # its background bulk write is a call too
    feature_log = api_client.app.state.search_service.feature_log  # a sampled search's re-run too
    if feature_log is not None:
        assert feature_log.flush(timeout_s=60)
    warmup = api_client.app.state.cache_warmup  # start-up searches are calls too
    if warmup is not None:
        warmup.join(timeout=120)
    text = api_client.get("/metrics").text
    in_use = samples(text, "quarry_dependency_connections_in_use")
    assert in_use[(("dependency", "opensearch"),)] == 0  # between requests, nothing is checked out
    # The test process runs many apps over other model stores, so other versions may show as served
    # too (one app per process in production); this app's versions must be among them.
    served = {
        (dict(labels)["artifact"], dict(labels)["version"])
        for labels, v in samples(text, "quarry_artifact_info").items()
        if v == 1
    }
    artifacts = Path(demo_catalog.artifacts_dir)
    for artifact in ("query-understanding", "faiss"):
        assert (artifact, (artifacts / artifact / "CURRENT").read_text().strip()) in served
    shipped = msgspec.json.decode(Path(demo_catalog.ranking_config).read_bytes())
    assert ("ranking-config", shipped["version"]) in served

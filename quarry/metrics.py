"""Prometheus instruments of the service (names, labels and buckets live here, in one place).

Labels are bounded by construction: routes are templates (`/v1/products/{product_id}`), never raw
paths or query text; methods outside the HTTP set become `OTHER`; status is a class (`2xx`).
With several uvicorn workers, prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
`python -m api`) makes `/metrics` report every worker's counts.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Fine enough for p50/p95/p99/p99.9 between 1 ms and 2 s.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0,
)  # fmt: skip
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "quarry_http_requests_total", "HTTP requests by route template, method and status class",
    ["route", "method", "status_class"],
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "quarry_http_request_duration_seconds", "HTTP request latency by route template",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
HTTP_IN_FLIGHT = Gauge(
    "quarry_http_requests_in_flight", "Requests being served", ["route"], multiprocess_mode="livesum"
)

SEARCHES = Counter("quarry_searches_total", "Searches answered", ["retrieval_mode"])
ZERO_RESULT_SEARCHES = Counter("quarry_zero_result_searches_total", "Searches that found nothing")
SPELL_CORRECTIONS = Counter("quarry_spell_corrections_total", "Searches whose query was corrected")
CACHE_LOOKUPS = Counter("quarry_cache_lookups_total", "Result-cache lookups", ["layer", "result"])
TOP_SCORE = Histogram(
    "quarry_search_top_final_score", "Final score of the first result of a search", buckets=SCORE_BUCKETS
)
RECOMMENDATIONS = Counter("quarry_recommendations_total", "Recommendation responses", ["strategy"])
EVENTS = Counter("quarry_events_total", "Events received, by outcome", ["outcome"])
UBI_QUERY_LOG_DROPS = Counter("quarry_ubi_query_log_dropped_total", "UBI query records dropped (queue full)")

DEPENDENCY_LATENCY = Histogram(
    "quarry_dependency_duration_seconds", "Calls to OpenSearch and Redis by operation",
    ["dependency", "operation"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
DEPENDENCY_ERRORS = Counter(
    "quarry_dependency_errors_total", "Failed calls to OpenSearch and Redis", ["dependency", "operation"]
)
CIRCUIT_OPEN = Gauge(
    "quarry_circuit_open", "1 while a circuit breaker is open", ["breaker"], multiprocess_mode="max"
)
ARTIFACT_BUILT = Gauge(
    "quarry_artifact_built_timestamp_seconds", "When the artifact version being served was published",
    ["artifact"], multiprocess_mode="max",
)  # fmt: skip


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"

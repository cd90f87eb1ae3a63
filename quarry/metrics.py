"""Prometheus instruments of the service (names, labels and buckets live here, in one place).

Labels are bounded by construction: routes are templates (`/v1/products/{product_id}`), never raw
paths or query text; methods outside the HTTP set become `OTHER`; status is a class (`2xx`).
With several uvicorn workers, prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
`python -m api`) makes `/metrics` report every worker's counts.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, multiprocess

from quarry.tracing import client_span

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
LTR_FEATURE_LOG = Counter(
    "quarry_ltr_feature_log_total",
    "Sampled searches whose LTR features were logged, by outcome (logged, failed, dropped: queue full)",
    ["outcome"],
)
SHADOW_COMPARISONS = Counter(
    "quarry_shadow_comparisons_total",
    "Requests also computed with a shadow version, by outcome (compared, error, dropped: queue full)",
    ["artifact", "outcome"],
)
SHADOW_OVERLAP = Histogram(
    "quarry_shadow_overlap_at_10",
    "Share of the champion's top 10 the shadow also returns",
    ["artifact"],
    buckets=SCORE_BUCKETS,
)
SHADOW_LATENCY = Histogram(
    "quarry_shadow_latency_seconds",
    "Time the shadow version took (off the request path)",
    ["artifact"],
    buckets=LATENCY_BUCKETS,
)
CANARY_REQUESTS = Counter(
    "quarry_canary_requests_total",
    "Requests recorded while a canary version is live, by variant (canary, champion) and outcome",
    ["artifact", "variant", "outcome"],
)
EVENTS = Counter("quarry_events_total", "Events received, by outcome", ["outcome"])
UBI_QUERY_LOG_DROPS = Counter(
    "quarry_ubi_query_log_dropped_total",
    "UBI query records lost",
    ["reason"],  # queue_full, write_failed, rejected, duplicate_id (a record with that id exists)
)
EVENT_USER_QUERIES = Counter(
    "quarry_event_user_queries_total",
    "Stored events that name a query_id, by where their user_query came from",
    ["source"],  # client, query_log, unknown (the query was not logged, or not yet)
)
RATE_LIMITED = Counter(
    "quarry_rate_limited_total",
    "Requests refused with a 429",
    ["limited"],  # search, recommend, key_reads (reads of keys a worker has not seen), repeated_query
)
ABUSE_BLOCKS = Counter(
    "quarry_abuse_blocks_total",
    "Requests refused by abuse protection",
    ["reason"],  # denied (deny list), repeated_query, enumeration (product pages)
)
USER_IDS = Counter(
    "quarry_user_ids_total",
    "User ids that searches, recommendation requests and events named, by whether Quarry used them",
    ["outcome"],  # server (a backend's key), token (a valid X-User-Token), ignored, refused
)
RATE_LIMIT_FALLBACKS = Counter(
    "quarry_rate_limit_fallbacks_total",
    "Rate-limit decisions one process made alone because Redis did not answer",
)

DEPENDENCY_LATENCY = Histogram(
    "quarry_dependency_duration_seconds", "Calls to OpenSearch and Redis by operation",
    ["dependency", "operation"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
DEPENDENCY_ERRORS = Counter(
    "quarry_dependency_errors_total", "Failed calls to OpenSearch and Redis", ["dependency", "operation"]
)
DEPENDENCY_CONNECTIONS_IN_USE = Gauge(
    "quarry_dependency_connections_in_use", "Connections of a worker's pool busy with a call",
    ["dependency"], multiprocess_mode="liveall",
)  # fmt: skip
DEPENDENCY_POOL_SIZE = Gauge(
    "quarry_dependency_pool_size", "Connections a worker's pool keeps (more are opened and discarded)",
    ["dependency"], multiprocess_mode="liveall",
)  # fmt: skip
CIRCUIT_OPEN = Gauge(
    "quarry_circuit_open", "1 while a circuit breaker is open", ["breaker"], multiprocess_mode="livemax"
)
ARTIFACT_BUILT = Gauge(
    "quarry_artifact_built_timestamp_seconds", "When the artifact version being served was published",
    ["artifact"], multiprocess_mode="livemax",
)  # fmt: skip

ARTIFACT_INFO = Gauge(
    "quarry_artifact_info", "1 for the artifact version a worker serves, 0 for versions it replaced",
    ["artifact", "version"], multiprocess_mode="livemax",
)  # fmt: skip
PROCESS_CPU = Gauge(
    "quarry_process_cpu_seconds", "CPU time (user + system) a worker has used since it started",
    multiprocess_mode="liveall",
)  # fmt: skip
PROCESS_MEMORY = Gauge(
    "quarry_process_resident_memory_bytes", "Resident memory of a worker", multiprocess_mode="liveall"
)
PROCESS_THREADS = Gauge("quarry_process_threads", "Threads of a worker", multiprocess_mode="liveall")
PROCESS_SAMPLE_INTERVAL_S = 5.0


# The label values every worker publishes at 0 from the start: a ratio of two counters (zero-result
# rate, cache hit rate) is only right when both series exist over the whole window. A labelled series
# that appears with its first increment makes `rate()` skip the start of the window, and the zero-
# result ratio read above 1 in the minutes after a restart (tests/e2e/test_observe.py).
KNOWN_LABELS: dict[Counter, list[tuple[str, ...]]] = {
    SEARCHES: [("keyword",), ("semantic",), ("hybrid",)],
    CACHE_LOOKUPS: [(layer, result) for layer in ("local", "redis") for result in ("hit", "miss", "error")],
    EVENTS: [("accepted",), ("duplicate",), ("rejected",), ("failed",)],
    UBI_QUERY_LOG_DROPS: [("queue_full",), ("write_failed",), ("rejected",), ("duplicate_id",)],
    EVENT_USER_QUERIES: [("client",), ("query_log",), ("unknown",)],
    RATE_LIMITED: [("search",), ("recommend",), ("key_reads",), ("repeated_query",)],
    USER_IDS: [("server",), ("token",), ("ignored",), ("refused",)],
    ABUSE_BLOCKS: [("denied",), ("repeated_query",), ("enumeration",)],
    LTR_FEATURE_LOG: [("logged",), ("failed",), ("dropped",)],
}


# The calls of the request path, whose error counters the dependency alerts read from the first error.
KNOWN_CALLS = {
    "opensearch": ("search", "bulk", "get", "get_alias", "health"),
    "ubi_opensearch": ("bulk", "search", "health"),  # QUARRY_UBI_OPENSEARCH_URL's analytics cluster
    "redis": ("get", "set", "delete", "push_recent", "recent"),
}


def initialize_series(routes: Iterable[tuple[str, str]] = ()) -> None:
    """Publish at 0 the series alerts divide or rate: the counters of `KNOWN_LABELS`, the 5xx count
    of every (route template, method) the app serves, the error count of every known call."""
    for metric, label_sets in KNOWN_LABELS.items():
        for labels in label_sets:
            metric.labels(*labels)
    for route, method in routes:
        HTTP_REQUESTS.labels(route, method_label(method), "5xx")
    for dependency, operations in KNOWN_CALLS.items():
        for operation in operations:
            DEPENDENCY_ERRORS.labels(dependency, operation)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


@contextmanager
def dependency_call(dependency: str, operation: str) -> Iterator[None]:
    """Time and trace one call to OpenSearch or Redis. An exception counts as an error unless it says
    it is not retryable (an OpenSearch 4xx is the caller's mistake, not an outage); either way the
    span records it. In-flight calls are connections in use: a blocking client holds one per call."""
    started = time.perf_counter()
    in_use = DEPENDENCY_CONNECTIONS_IN_USE.labels(dependency)
    in_use.inc()
    try:
        with client_span(f"{dependency} {operation}", dependency, operation):
            yield
    except Exception as exc:
        if getattr(exc, "retryable", True):
            DEPENDENCY_ERRORS.labels(dependency, operation).inc()
        raise
    finally:
        in_use.dec()
        DEPENDENCY_LATENCY.labels(dependency, operation).observe(time.perf_counter() - started)


def forget_dead_workers() -> int:
    """In multiprocess mode, drop the live gauges of workers that died (uvicorn restarts them with new
    pids): an open breaker or in-flight requests of a dead worker must not count. Returns how many."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return 0
    pids = {
        int(p.stem.rsplit("_", 1)[1])
        for p in Path(directory).glob("*_*.db")
        if p.stem.rsplit("_", 1)[1].isdigit()
    }
    dead = 0
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
            dead += 1
        except PermissionError:
            pass  # alive, another user's
    return dead


def artifact_served(artifact: str, version: str, replaced: str | None) -> None:
    if replaced is not None:
        ARTIFACT_INFO.labels(artifact, replaced).set(0)
    ARTIFACT_INFO.labels(artifact, version).set(1)


def _resident_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def sample_process() -> None:
    """prometheus-client's process collector does not work across workers (multiprocess mode), so
    each worker publishes its own CPU, memory and thread count, labelled by pid."""
    PROCESS_CPU.set(time.process_time())
    PROCESS_MEMORY.set(_resident_bytes())
    PROCESS_THREADS.set(threading.active_count())


class ProcessSampler:
    """Samples this worker every few seconds on a daemon thread: a worker that is not the one
    answering a scrape still shows current values."""

    def __init__(self, interval_s: float = PROCESS_SAMPLE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-metrics", daemon=True)

    def start(self) -> None:
        sample_process()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            sample_process()

"""`make bench-search`: latency and throughput of search at concurrency 1 and 16 for
(a) the raw OpenSearch BM25 query through opensearch-py, (b) the API with its result cache off,
(c) the API with a warm cache. Every side is driven by wrk (C, keep-alive connections: the latency it
records is the servers') and by a Python harness (threads; raw OpenSearch through opensearch-py) with
the same query mix; the API runs as `python -m api` (uvicorn workers).

Goals on a 2-core machine: uncached API p95 <= raw p95 + 15 ms; cached p99 < 10 ms at concurrency 16.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import msgspec
from opensearchpy import OpenSearch

from pipelines.bench.load import closed_loop, percentile
from pipelines.bench.report import environment, publish_report
from pipelines.bench.wrk import HttpRequest, run_wrk
from pipelines.golden import load_queries
from pipelines.synonyms.apply import keyword_query
from quarry.settings import PROJECT_ROOT, get_settings

CONCURRENCY = (1, 16)
REQUESTS = {1: 400, 16: 2400}
WARMUP = 60
WRK_SECONDS = {1: 8, 16: 12}
WRK_WARMUP_S = 2
PAGE_SIZE = 20


class Latency(msgspec.Struct):
    system: str
    client: str  # "wrk" (C, measures the servers) or "python" (threads; opensearch-py for raw)
    concurrency: int
    requests: int
    errors: int
    qps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


class SearchBenchReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, Any]
    api_workers: int
    query_mix: dict[str, int]
    results: list[Latency]
    ratios: dict[str, float]
    goals: dict[str, bool]
    ubi_enqueue_us: dict[str, float]


def ubi_enqueue_cost(samples: int = 20000) -> dict[str, float]:
    """What UBI query logging adds to a request: building the record and enqueueing it (the writer
    thread is not started, so only the request-side cost is timed)."""
    import datetime as dt
    import uuid

    from api.ubi.writer import QueryLogWriter, UbiQuery
    from quarry.adapters.search_engine import OpenSearchEngine

    writer = QueryLogWriter(OpenSearchEngine("http://127.0.0.1:1"), capacity=samples)
    timings = []
    for n in range(samples):
        started = time.perf_counter()
        writer.submit(
            UbiQuery(
                query_id=str(uuid.uuid4()),
                user_query="running shoes",
                query_response_hit_ids=[f"P{i:06d}" for i in range(20)],
                timestamp=dt.datetime.now(dt.UTC).isoformat(),
                user_id=f"u{n}",
            )
        )
        timings.append((time.perf_counter() - started) * 1e6)
    return {
        "p50": round(percentile(timings, 0.5), 2),
        "p99": round(percentile(timings, 0.99), 2),
        "max": round(max(timings), 2),
    }


def query_mix() -> list[dict[str, str]]:
    """Head, torso and tail queries of the golden set; every fourth carries a filter."""
    queries = load_queries()
    mix: list[dict[str, str]] = []
    for i, query in enumerate(queries):
        params = {"q": query.query, "size": str(PAGE_SIZE)}
        if i % 8 == 0:
            params["in_stock"] = "true"
        elif i % 8 == 4:
            params["price_max"] = "200"
        mix.append(params)
    return mix


def drive(
    name: str,
    concurrency: int,
    total: int,
    make_caller: Callable[[], Callable[[dict[str, str]], bool]],
    mix: list[dict[str, str]],
) -> Latency:
    load = closed_loop(mix, total, concurrency, make_caller, f"{name} c={concurrency}")
    return Latency(
        system=name,
        client="python",
        concurrency=concurrency,
        requests=total,
        errors=load.errors,
        qps=round(total / load.seconds, 1),
        p50_ms=round(load.percentile(0.50), 2),
        p95_ms=round(load.percentile(0.95), 2),
        p99_ms=round(load.percentile(0.99), 2),
    )


def raw_body(params: dict[str, str]) -> dict[str, Any]:
    """The raw baseline: the keyword query (synonym analyzer) with the same hard filters, ids only."""
    body = keyword_query(params["q"], size=PAGE_SIZE)
    filters: list[dict[str, Any]] = []
    if "in_stock" in params:
        filters.append({"term": {"in_stock": True}})
    if "price_max" in params:
        filters.append({"range": {"price": {"lte": float(params["price_max"])}}})
    if filters:
        body["query"] = {"bool": {"must": [body["query"]], "filter": filters}}
    return body


def raw_caller(url: str, alias: str) -> Callable[[], Callable[[dict[str, str]], bool]]:
    def make() -> Callable[[dict[str, str]], bool]:
        client = OpenSearch(hosts=[url], timeout=30)

        def call(params: dict[str, str]) -> bool:
            client.search(index=alias, body=raw_body(params))
            return True

        return call

    return make


def wrk_row(name: str, base_url: str, requests: list[HttpRequest], concurrency: int) -> Latency:
    run_wrk(base_url, requests, concurrency, WRK_WARMUP_S)
    result = run_wrk(base_url, requests, concurrency, WRK_SECONDS[concurrency])
    return Latency(
        system=name,
        client="wrk",
        concurrency=concurrency,
        requests=result.requests,
        errors=result.errors,
        qps=round(result.qps, 1),
        p50_ms=round(result.p50_ms, 2),
        p95_ms=round(result.p95_ms, 2),
        p99_ms=round(result.p99_ms, 2),
    )


def api_caller(port: int) -> Callable[[], Callable[[dict[str, str]], bool]]:
    def make() -> Callable[[dict[str, str]], bool]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def call(params: dict[str, str]) -> bool:
            connection.request("GET", "/v1/search?" + urllib.parse.urlencode(params))
            response = connection.getresponse()
            response.read()
            return response.status == 200

        return call

    return make


def warm_cache(port: int, mix: list[dict[str, str]]) -> None:
    """One pass over the whole mix, so the cached side measures cache hits only."""
    drive("warm", 4, len(mix), api_caller(port), mix)


def start_api(cache_ttl_s: int) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "QUARRY_API_PORT": str(port),
        "QUARRY_SEARCH_CACHE_TTL_S": str(cache_ttl_s),
        "QUARRY_LOG_LEVEL": "WARNING",
        "QUARRY_CACHE_WARM_QUERIES": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the API did not become ready")


def main() -> int:
    settings = get_settings()
    mix = query_mix()
    results: list[Latency] = []
    raw = raw_caller(settings.opensearch_url, settings.products_alias)
    raw_http = [
        HttpRequest("POST", f"/{settings.products_alias}/_search", msgspec.json.encode(raw_body(m)).decode())
        for m in mix
    ]
    api_http = [HttpRequest("GET", "/v1/search?" + urllib.parse.urlencode(m)) for m in mix]
    uncached, uncached_port = start_api(cache_ttl_s=0)
    cached, cached_port = start_api(cache_ttl_s=3600)
    try:
        systems: list[tuple[str, Callable[[], Callable[[dict[str, str]], bool]], str, list[HttpRequest]]] = [
            ("raw_opensearch", raw, settings.opensearch_url, raw_http),
            ("api_uncached", api_caller(uncached_port), f"http://127.0.0.1:{uncached_port}", api_http),
            ("api_cached", api_caller(cached_port), f"http://127.0.0.1:{cached_port}", api_http),
        ]
        for name, caller, base_url, http_requests in systems:
            if name == "api_cached":
                warm_cache(cached_port, mix)  # the cached side measures cache hits only
            drive(f"{name} warm-up", 2, WARMUP, caller, mix)
            for concurrency in CONCURRENCY:
                results.append(wrk_row(name, base_url, http_requests, concurrency))
                print(msgspec.json.encode(results[-1]).decode(), file=sys.stderr)
                results.append(drive(name, concurrency, REQUESTS[concurrency], caller, mix))
                print(msgspec.json.encode(results[-1]).decode(), file=sys.stderr)
    finally:
        for process in (uncached, cached):
            process.terminate()
            process.wait(timeout=20)
    # Goals and ratios compare like with like: the wrk rows (one C client for every side).
    by = {(r.system, r.concurrency): r for r in results if r.client == "wrk"}
    ratios = {}
    for c in CONCURRENCY:
        ratios[f"api_uncached_p95_over_raw_p95_c{c}"] = round(
            by[("api_uncached", c)].p95_ms / by[("raw_opensearch", c)].p95_ms, 2
        )
        ratios[f"api_cached_p95_over_raw_p95_c{c}"] = round(
            by[("api_cached", c)].p95_ms / by[("raw_opensearch", c)].p95_ms, 2
        )
    goals = {
        f"uncached_p95_within_raw_plus_15ms_c{c}": by[("api_uncached", c)].p95_ms
        <= by[("raw_opensearch", c)].p95_ms + 15
        for c in CONCURRENCY
    }
    goals["cached_p99_under_10ms_c16"] = by[("api_cached", 16)].p99_ms < 10
    report = SearchBenchReport(
        benchmark="bench-search",
        environment=environment(),
        api_workers=settings.api_workers,
        query_mix={"queries": len(mix), "with_filters": sum(1 for m in mix if len(m) > 2)},
        results=results,
        ratios=ratios,
        goals=goals,
        ubi_enqueue_us=ubi_enqueue_cost(),
    )
    lines = [
        f"# bench-search ({report.environment['commit']}, {report.environment['measured_at']})",
        "",
        f"{len(mix)} golden-set queries (head, torso, tail; {report.query_mix['with_filters']} with "
        f"filters), page size {PAGE_SIZE}, API with {settings.api_workers} uvicorn workers; "
        "keep-alive connections.",
        "",
        "Each side is measured twice: with wrk (C; its latencies are the servers') and with the Python "
        "harness (threads; raw OpenSearch through opensearch-py), whose own GIL wait adds to its numbers "
        "at concurrency 16. Goals and ratios use the wrk rows.",
        "",
        "| system | client | concurrency | requests | errors | QPS | p50 ms | p95 ms | p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {r.system} | {r.client} | {r.concurrency} | {r.requests} | {r.errors} | {r.qps:,.1f} | "
            f"{r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.p99_ms:.2f} |"
            for r in results
        ],
        "",
        "| ratio | value |",
        "| --- | ---: |",
        *[f"| {k} | {v:.2f} |" for k, v in ratios.items()],
        "",
        f"UBI query logging on the request path (build the record, enqueue): p50 "
        f"{report.ubi_enqueue_us['p50']:.1f} µs, p99 {report.ubi_enqueue_us['p99']:.1f} µs.",
        "",
        "| goal | met |",
        "| --- | --- |",
        *[f"| {k} | {'yes' if v else 'NO'} |" for k, v in goals.items()],
    ]
    return publish_report("bench-search", report, lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench-ubi-ids`: what a client-supplied `query_id` costs a cached search.

UBI clients (ubi.js and the like) name every search themselves. Quarry claims such an id in Redis (one
`SET NX GET`) and, because that is I/O, answers the search from a worker thread instead of from the
event loop's in-memory pages; with `QUARRY_UBI_QUERY_ID_CHECK=false` it does neither. This measures
both with wrk against APIs with a warm cache, in alternating rounds: cached searches without ids, the
same searches with `query_id` and `client_id` (checked, and unchecked on a second API), and raw
OpenSearch as the machine's baseline in the same run. Each search of the mix has
one id; wrk repeats the list, so later requests are retries, which cost the same claim (the stored
record is refused as a duplicate id instead of written).
"""

from __future__ import annotations

import sys
import urllib.parse
import uuid
from contextlib import ExitStack

import msgspec

from pipelines.api_access import bearer, tool_token
from pipelines.bench.api_process import start_api
from pipelines.bench.cpu import pid_from_file
from pipelines.bench.report import environment, publish_report
from pipelines.bench.search_bench import (
    Latency,
    median_round,
    query_mix,
    raw_body,
    warm_cache,
    wrk_row,
)
from pipelines.bench.wrk import HttpRequest
from quarry import connections
from quarry.settings import get_settings
from quarry.ubi import SYNTHETIC_USER_PREFIX, UBI_QUERIES

ROUNDS = 3
CONCURRENCY = (1, 16)
BENCH_CLIENT = SYNTHETIC_USER_PREFIX + "bench-ubi-ids"


class UbiIdsBenchReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, object]
    rounds: list[Latency]
    medians: list[Latency]
    api_cpu_ms_added_by_ids: dict[str, float | None]


def search_request(params: dict[str, str], headers: dict[str, str]) -> HttpRequest:
    return HttpRequest("GET", "/v1/search?" + urllib.parse.urlencode(params), headers=tuple(headers.items()))


def main() -> int:
    settings = get_settings()
    mix = query_mix()
    run = uuid.uuid4().hex[:8]
    with_ids = [
        {**params, "query_id": f"bench-{run}-{n}", "client_id": BENCH_CLIENT} for n, params in enumerate(mix)
    ]
    alias_search = f"/{settings.products_alias}/_search"
    stack = ExitStack()
    headers = bearer(stack.enter_context(tool_token(settings, "make bench-ubi-ids", ("search",))))
    requests = {
        "raw_opensearch": [
            HttpRequest("POST", alias_search, msgspec.json.encode(raw_body(m)).decode()) for m in mix
        ],
        "api_cached": [search_request(m, headers) for m in mix],
        "api_cached_client_ids": [search_request(m, headers) for m in with_ids],
        "api_cached_client_ids_unchecked": [search_request(m, headers) for m in with_ids],
    }
    checked, checked_port = start_api(3600)
    unchecked, unchecked_port = start_api(3600, QUARRY_UBI_QUERY_ID_CHECK="false")
    apis = {
        "api_cached": (checked, checked_port),
        "api_cached_client_ids": (checked, checked_port),
        "api_cached_client_ids_unchecked": (unchecked, unchecked_port),
    }
    opensearch_pid = pid_from_file(settings.var_path / "run" / "opensearch.pid")
    rounds: list[Latency] = []
    try:
        for port in (checked_port, unchecked_port):
            warm_cache(port, mix, headers)
            warm_cache(port, with_ids, headers)  # claims the ids; the pages are the same cache entries
        for number in range(1, ROUNDS + 1):
            for concurrency in CONCURRENCY:
                for name, sent in requests.items():
                    process, port = apis.get(name, (None, 0))
                    base = settings.opensearch_url if process is None else f"http://127.0.0.1:{port}"
                    pid = None if process is None else process.pid
                    row = wrk_row(name, base, sent, concurrency, pid, opensearch_pid)
                    rounds.append(msgspec.structs.replace(row, round=number))
                    print(msgspec.json.encode(rounds[-1]).decode(), file=sys.stderr)
    finally:
        for process in (checked, unchecked):
            process.terminate()
            process.wait(timeout=20)
        stack.close()
        connections.raw_opensearch(settings, settings.ubi_url, 120).delete_by_query(
            index=UBI_QUERIES,
            body={"query": {"term": {"client_id": BENCH_CLIENT}}},
            refresh=True,
            conflicts="proceed",
        )
    medians = [
        median_round([r for r in rounds if r.system == name and r.concurrency == c])
        for c in CONCURRENCY
        for name in requests
    ]
    by = {(r.system, r.concurrency): r for r in medians}
    added: dict[str, float | None] = {}
    for c in CONCURRENCY:
        plain = by[("api_cached", c)].api_cpu_ms
        for name, label in (
            ("api_cached_client_ids", "checked"),
            ("api_cached_client_ids_unchecked", "unchecked"),
        ):
            named = by[(name, c)].api_cpu_ms
            added[f"{label}_c{c}"] = (
                round(named - plain, 3) if plain is not None and named is not None else None
            )
    report = UbiIdsBenchReport("bench-ubi-ids", environment(), rounds, medians, added)
    lines = [
        f"# bench-ubi-ids ({report.environment['commit']}, {report.environment['measured_at']})",
        "",
        "Cached searches with and without a client-supplied `query_id` (and `client_id`), wrk, APIs with "
        f"a warm cache, raw OpenSearch as the baseline; medians of {ROUNDS} alternating rounds.",
        "",
        "| system | concurrency | QPS | p50 ms | p99 ms | API CPU ms/search | OpenSearch CPU ms/search |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {r.system} | {r.concurrency} | {r.qps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.api_cpu_ms if r.api_cpu_ms is not None else '-'} | {r.opensearch_cpu_ms} |"
            for r in medians
        ],
        "",
        "| API CPU per cached search added by client ids | ms |",
        "| --- | ---: |",
        *[f"| {key.replace('_c', ', concurrency ')} | {value} |" for key, value in added.items()],
        "",
        "`checked`: `QUARRY_UBI_QUERY_ID_CHECK=true` (the default), each id claimed in Redis and the search "
        "served from a worker thread; `unchecked`: false, the page comes from the event loop's memory and "
        "the query log refuses a reused id's record.",
    ]
    return publish_report("bench-ubi-ids", report, lines)


if __name__ == "__main__":
    raise SystemExit(main())

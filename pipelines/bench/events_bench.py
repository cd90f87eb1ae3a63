"""`make bench-events`: sustained event ingestion through `POST /v1/events` at batch sizes 1, 50 and
500 (events/s and acknowledgement latency), against raw OpenSearch bulk requests of the same documents
(`op_type=create`, same daily-index template) in the same run. Four client threads per side.

Bench events carry the synthetic client id `quarry-bench` and are deleted afterwards.
ALS training time (on the events of the last 30 days) and recommendation latency complete the report.
"""

from __future__ import annotations

import datetime as dt
import http.client
import sys
import time
import urllib.parse
import uuid
from contextlib import ExitStack
from typing import Any

import msgspec

from pipelines.api_access import bearer, tool_token
from pipelines.bench.api_process import start_api
from pipelines.bench.load import closed_loop, percentile
from pipelines.bench.report import environment, write_report
from pipelines.golden import load_queries
from quarry import connections
from quarry.adapters.search_engine import index_action
from quarry.events.service import ubi_document
from quarry.events.validation import STANDARD_ACTIONS, validate_batch
from quarry.settings import Settings, get_settings
from quarry.ubi import SYNTHETIC_USER_PREFIX, UBI_EVENTS, UBI_QUERIES, events_index

BATCH_SIZES = (1, 50, 500)
EVENTS_PER_SIZE = {1: 2000, 50: 20000, 500: 40000}
CLIENTS = 4
BENCH_CLIENT = SYNTHETIC_USER_PREFIX + "bench"


class IngestResult(msgspec.Struct):
    system: str
    batch_size: int
    events: int
    seconds: float
    events_per_second: float
    p50_ack_ms: float
    p99_ack_ms: float
    errors: int


class ModelTimings(msgspec.Struct):
    interactions: int
    load_seconds: float
    training_seconds: float
    recommendation_requests: int
    recommendation_p50_ms: float
    recommendation_p99_ms: float


class EventsBenchReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, Any]
    results: list[IngestResult]
    api_vs_raw_events_per_second: dict[str, float]
    als: ModelTimings | None


SEARCHES = 400
EVENTS_PER_SEARCH = 10


def make_events(count: int, query_ids: list[str]) -> list[dict[str, Any]]:
    """Events of searches the API logged (ten per search, like the impressions of a page), so the
    API's side pays for looking up each search's `user_query` as it would in production."""
    now = dt.datetime.now(dt.UTC).isoformat()
    return [
        {
            "event_id": f"bench-{uuid.uuid4().hex}",
            "action_name": "view",
            "client_id": BENCH_CLIENT,
            "session_id": f"s-{i % 500}",
            "query_id": query_ids[(i // EVENTS_PER_SEARCH) % len(query_ids)],
            "object_id": f"P{i % 20000:06d}",
            "position": 1 + i % 20,
            "timestamp": now,
        }
        for i in range(count)
    ]


def logged_searches(port: int, headers: dict[str, str]) -> dict[str, str]:
    """Searches through the API (logged as a shopper's would be): query id -> the query as typed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    queries = [q.query for q in load_queries()]
    searches = {}
    for n in range(SEARCHES):
        text = queries[n % len(queries)]
        connection.request(
            "GET",
            "/v1/search?" + urllib.parse.urlencode({"q": text, "client_id": BENCH_CLIENT, "size": 10}),
            headers=headers,
        )
        response = connection.getresponse()
        body = msgspec.json.decode(response.read())
        if response.status == 200:
            searches[body["query_id"]] = text
    return searches


def run(system: str, batches: list[list[dict[str, Any]]], send: Any, batch_size: int) -> IngestResult:
    load = closed_loop(batches, len(batches), CLIENTS, send, f"{system} batch={batch_size}")
    events = sum(len(b) for b in batches)
    return IngestResult(
        system=system,
        batch_size=batch_size,
        events=events,
        seconds=round(load.seconds, 3),
        events_per_second=round(events / load.seconds, 1),
        p50_ack_ms=round(load.percentile(0.5), 2),
        p99_ack_ms=round(load.percentile(0.99), 2),
        errors=load.errors,
    )


def api_sender(port: int, headers: dict[str, str]) -> Any:
    def make() -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def post(batch: list[dict[str, Any]]) -> bool:
            connection.request(
                "POST",
                "/v1/events",
                body=msgspec.json.encode({"events": batch}),
                headers={"content-type": "application/json", **headers},
            )
            response = connection.getresponse()
            response.read()
            return response.status == 202

        return post

    return make


def raw_sender(settings: Settings, url: str, searches: dict[str, str]) -> Any:
    """The baseline: the same documents, validated the same way, straight to OpenSearch's bulk API;
    their searches' `user_query` is known here without a lookup."""

    def make() -> Any:
        client = connections.raw_opensearch(settings, url, 60)

        def post(batch: list[dict[str, Any]]) -> bool:
            now = dt.datetime.now(dt.UTC)
            events = validate_batch(batch, now, dt.timedelta(days=7), STANDARD_ACTIONS)
            body = b"".join(
                index_action(
                    events_index(e.timestamp.date()),
                    e.event_id,
                    ubi_document(e, now, searches.get(e.event.query_id or "")),
                    "create",
                )
                for e in events
            )
            response = client.bulk(body=body)
            return not response.get("errors")

        return post

    return make


def als_timings(port: int, headers: dict[str, str]) -> ModelTimings | None:
    """Train ALS on the events there are (timed), then time personal recommendations for known users
    through the API at concurrency 1."""
    from pipelines.recommend.train import load_interactions, to_matrix
    from quarry.recommenders import ALSRecommender

    settings = get_settings()
    started = time.perf_counter()
    rows = load_interactions(connections.ubi_engine(settings), 30, dt.datetime.now(dt.UTC))
    load_seconds = time.perf_counter() - started
    if not rows:
        return None
    data = to_matrix(rows)
    started = time.perf_counter()
    ALSRecommender().fit(data)
    training_seconds = time.perf_counter() - started
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    for n in range(500):
        user = data.user_ids[(n * 7919) % len(data.user_ids)]
        begun = time.perf_counter()
        connection.request("GET", f"/v1/recommendations?user_id={user}&k=10", headers=headers)
        connection.getresponse().read()
        latencies.append((time.perf_counter() - begun) * 1000)
    return ModelTimings(
        interactions=len(rows),
        load_seconds=round(load_seconds, 3),
        training_seconds=round(training_seconds, 3),
        recommendation_requests=len(latencies),
        recommendation_p50_ms=round(percentile(latencies, 0.5), 2),
        recommendation_p99_ms=round(percentile(latencies, 0.99), 2),
    )


def main() -> int:
    settings = get_settings()
    process, port = start_api(cache_ttl_s=0)
    stack = ExitStack()
    results: list[IngestResult] = []
    als: ModelTimings | None = None
    try:
        token = stack.enter_context(
            tool_token(settings, "make bench-events", ("search", "recommend", "events", "server"))
        )
        headers = bearer(token)
        searches = logged_searches(port, headers)
        for size in BATCH_SIZES:
            for system, sender in (
                (
                    "raw_opensearch_bulk",
                    raw_sender(settings, settings.ubi_url, searches),
                ),  # where the API stores
                ("api_events", api_sender(port, headers)),
            ):
                events = make_events(EVENTS_PER_SIZE[size], list(searches))
                batches = [events[i : i + size] for i in range(0, len(events), size)]
                results.append(run(system, batches, sender, size))
                print(msgspec.json.encode(results[-1]).decode(), file=sys.stderr)
        als = als_timings(port, headers)
    finally:
        stack.close()
        process.terminate()
        process.wait(timeout=20)
        client = connections.raw_opensearch(settings, settings.ubi_url, 120)
        for index in (UBI_EVENTS, UBI_QUERIES):
            client.delete_by_query(
                index=index,
                body={"query": {"term": {"client_id": BENCH_CLIENT}}},
                refresh=True,
                conflicts="proceed",
            )
    by = {(r.system, r.batch_size): r for r in results}
    ratios = {
        f"batch_{s}": round(
            by[("api_events", s)].events_per_second / by[("raw_opensearch_bulk", s)].events_per_second, 2
        )
        for s in BATCH_SIZES
    }
    report = EventsBenchReport("bench-events", environment(), results, ratios, als)
    table = "\n".join(
        [
            f"# bench-events ({report.environment['commit']}, {report.environment['measured_at']})",
            "",
            f"Sustained ingestion with {CLIENTS} client threads per side; the API acknowledges only after "
            "OpenSearch has stored (translog fsynced) every event of the batch. Every event names one of "
            f"{SEARCHES} searches logged through the API ({EVENTS_PER_SEARCH} events each): the API looks up "
            "their `user_query` (its workers' recent searches, else a multi-get of `ubi_queries`); the raw "
            "side stores the same documents with it filled in.",
            "",
            "| system | batch size | events | events/s | p50 ack ms | p99 ack ms | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[
                f"| {r.system} | {r.batch_size} | {r.events:,} | {r.events_per_second:,.0f} | "
                f"{r.p50_ack_ms:.2f} | {r.p99_ack_ms:.2f} | {r.errors} |"
                for r in results
            ],
            "",
            "| API / raw events per second | value |",
            "| --- | ---: |",
            *[f"| {k} | {v:.2f} |" for k, v in ratios.items()],
            "",
            *(
                [
                    "## ALS",
                    "",
                    "| interactions | load events s | train s | recommendation p50 ms | p99 ms |",
                    "| ---: | ---: | ---: | ---: | ---: |",
                    f"| {als.interactions:,} | {als.load_seconds:.2f} | {als.training_seconds:.2f} | "
                    f"{als.recommendation_p50_ms:.2f} | {als.recommendation_p99_ms:.2f} |",
                    "",
                    "Recommendation latency: `GET /v1/recommendations?user_id=` for known users, "
                    "concurrency 1.",
                ]
                if als
                else ["ALS: no interactions in ubi_events (run `make simulate` first)."]
            ),
        ]
    )
    write_report("bench-events", report, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""OpenTelemetry tracing on the real stack: the span tree of one search, cache hits, errors recorded on
spans, and the request's trace id in the header, the error body and the span."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from quarry.adapters.search_engine import OpenSearchEngine
from quarry.search import catalog_version as services
from quarry.settings import Settings
from tests.conftest import make_event

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def traced(app_client, demo_catalog: Settings) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    settings = msgspec.structs.replace(demo_catalog, cache_warm_queries=0, tracing_exporter="none")
    with app_client(settings, span_exporter=exporter) as client:
        yield client, exporter


def tree(spans: tuple[ReadableSpan, ...]) -> dict[str, list[str]]:
    """Parent span name -> child span names, in start order."""
    names = {s.context.span_id: s.name for s in spans}
    children: dict[str, list[str]] = {}
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        parent = names.get(s.parent.span_id) if s.parent else None
        children.setdefault(parent or "<root>", []).append(s.name)
    return children


def of_trace(spans: tuple[ReadableSpan, ...], trace_id: str) -> tuple[ReadableSpan, ...]:
    """One request's spans; the exporter also holds background work (start-up checks, UBI flushes),
    each its own trace."""
    return tuple(s for s in spans if s.context.trace_id == int(trace_id, 16))


def only(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {len(found)} spans"
    return found[0]


def test_one_uncached_search_has_a_span_for_every_stage(traced, monkeypatch) -> None:
    client, exporter = traced
    monkeypatch.setattr(services, "CATALOG_VERSION_TTL_S", 3600.0)  # no refresh mid-test on a slow box
    client.get("/v1/search", params={"q": "tent"})  # ranking config and catalog version now known
    uncached = {"q": "running shoes", "price_max": 10_000 + uuid.uuid4().int % 10**9}  # no earlier key
    response = client.get("/v1/search", params=uncached, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200, response.text
    assert response.headers["x-trace-id"] == CALLER_TRACE
    spans = of_trace(exporter.get_finished_spans(), CALLER_TRACE)
    root = only(spans, "GET /v1/search")
    assert root.kind is SpanKind.SERVER and root.parent is not None and root.parent.is_remote
    assert format(root.parent.span_id, "016x") == CALLER_SPAN
    assert root.attributes is not None and root.attributes["http.response.status_code"] == 200

    children = tree(spans)
    assert children["<root>"] == ["GET /v1/search"]
    # On the event loop: the in-process page cache, keyed by the normalized query (understanding a new
    # query may run the encoder, no work for the loop); then the worker thread, which understands it.
    assert children["GET /v1/search"] == ["cache.lookup", "search"]
    assert children["query.understand"] == [
        "query.normalize",
        "query.spell_correction",
        "query.numbers",
        "query.classify",
    ]
    assert (only(spans, "query.understand").attributes or {})["quarry.understanding.remembered"] is False
    assert children["search"] == [
        "query.understand",
        "cache.lookup",
        "retrieve.keyword",
        "retrieve.semantic",
        "personalization.features",
        "rank",
        "cache.store",
        "ubi.log",
    ]
    assert children["retrieve.semantic"][:2] == ["query.encode", "retrieve.knn"]
    assert "faiss.rerank" in children["retrieve.semantic"]
    assert "redis get" in children["cache.lookup"]  # the thread's lookup reaches Redis

    search = only(spans, "search").attributes or {}
    body = response.json()
    assert search["quarry.results"] == len(body["results"]) > 0
    assert search["quarry.total"] == body["total"]
    assert search["quarry.cache.hit"] is False
    lookups = [s.attributes or {} for s in spans if s.name == "cache.lookup"]
    assert [(a["quarry.cache.layer"], a["quarry.cache.hit"]) for a in lookups] == [
        ("local", False),
        ("local+redis", False),
    ]
    keyword = only(spans, "retrieve.keyword").attributes or {}
    assert keyword["quarry.results"] > 0
    # The keyword and k-NN stages are each one OpenSearch call: client spans themselves, no child.
    for name in ("retrieve.keyword", "retrieve.knn"):
        stage = only(spans, name)
        assert name not in children and stage.kind is SpanKind.CLIENT
        assert (stage.attributes or {})["db.system.name"] == "opensearch"
        assert (stage.attributes or {})["db.operation.name"] == "search"


def test_a_cache_hit_skips_retrieval_and_says_so(traced) -> None:
    client, exporter = traced
    uncached = {"q": "rain jacket", "price_max": 10_000 + uuid.uuid4().int % 10**9}
    assert client.get("/v1/search", params=uncached).status_code == 200
    hit = client.get("/v1/search", params=uncached)
    assert hit.json()["cache_hit"] is True
    spans = of_trace(exporter.get_finished_spans(), hit.headers["x-trace-id"])
    names = {s.name for s in spans}
    # The page is found by the normalized query alone: no understanding, no retrieval.
    assert not names & {"retrieve.keyword", "retrieve.semantic", "rank", "query.understand"}
    lookups = [s for s in spans if s.name == "cache.lookup"]
    assert lookups and (lookups[-1].attributes or {})["quarry.cache.hit"] is True


def test_without_traceparent_each_request_starts_its_own_trace(traced) -> None:
    client, exporter = traced
    first = client.get("/health/live").headers["x-trace-id"]
    second = client.get("/health/live").headers["x-trace-id"]
    assert first != second and len(first) == 32
    roots = [s for s in exporter.get_finished_spans() if s.name == "GET /health/live"]
    assert [format(s.context.trace_id, "032x") for s in roots] == [first, second]
    assert all(s.parent is None for s in roots)


def test_event_ingestion_is_traced(traced) -> None:
    client, exporter = traced
    response = client.post("/v1/events", json={"events": [make_event(user_id="u-trace")]})
    assert response.status_code in (200, 202), response.text
    spans = of_trace(exporter.get_finished_spans(), response.headers["x-trace-id"])
    ingest = only(spans, "events.ingest")
    assert (ingest.attributes or {})["quarry.events.accepted"] == 1
    assert "opensearch bulk" in tree(spans)["events.ingest"]


def test_a_dependency_failure_is_recorded_on_the_spans(app_client, demo_catalog: Settings) -> None:
    exporter = InMemorySpanExporter()
    dead = msgspec.structs.replace(
        demo_catalog, cache_warm_queries=0, search_cache_ttl_s=0, opensearch_url="http://127.0.0.1:1"
    )
    # An engine without a circuit breaker: every call is really attempted (and fails) here.
    engine = OpenSearchEngine(dead.opensearch_url, timeout_s=2)
    with app_client(dead, engine=engine, span_exporter=exporter) as client:
        # A first request (its own trace) has the worker verify the key against the live key store,
        # so the traced one holds only calls to the dead cluster.
        client.get("/v1/search", params={"q": "tent"})
        response = client.get("/v1/search", params={"q": "tent"}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 503
    assert response.json()["trace_id"] == response.headers["x-trace-id"] == CALLER_TRACE
    spans = of_trace(exporter.get_finished_spans(), CALLER_TRACE)
    root = only(spans, "GET /v1/search")
    assert root.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in root.events), "the handled exception is on the request span"
    failed = [s for s in spans if (s.attributes or {}).get("db.system.name") == "opensearch"]
    assert failed and all(s.status.status_code is StatusCode.ERROR for s in failed)
    assert only(spans, "search").status.status_code is StatusCode.ERROR
    assert all(any(e.name == "exception" for e in s.events) for s in failed)

"""Tracing configuration: sampling decisions, trace ids without an exporter, and each exporter
delivering spans over a real connection (an OTLP/HTTP and an OTLP/gRPC receiver on localhost)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, HTTPServer

import grpc
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from quarry import tracing

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = {"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"}
UNSAMPLED = {"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-00"}


@pytest.fixture(autouse=True)
def idle_tracing() -> Iterator[None]:
    yield
    tracing.shutdown_tracing()


def span_names(request: trace_service_pb2.ExportTraceServiceRequest) -> list[str]:
    return [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_without_an_exporter_nothing_is_recorded_but_every_request_has_a_trace_id() -> None:
    tracing.configure_tracing("quarry-test", "none")
    with tracing.server_span("GET /x", {}, {}) as first, tracing.span("stage") as stage:
        assert not first.is_recording() and not stage.is_recording()
        assert tracing.trace_id_of(first) != "0" * 32
    with tracing.server_span("GET /x", {}, {}) as second:
        assert tracing.trace_id_of(second) != tracing.trace_id_of(first)
    with tracing.server_span("GET /x", SAMPLED, {}) as joined:
        assert tracing.trace_id_of(joined) == CALLER_TRACE


def test_the_ratio_samples_new_traces_but_a_sampled_caller_is_always_honoured() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("quarry-test", sample_ratio=0.0, span_exporter=exporter)
    with tracing.server_span("GET /new", {}, {}):
        pass
    with tracing.server_span("GET /sampled", SAMPLED, {}), tracing.span("stage"):
        pass
    with tracing.server_span("GET /unsampled", UNSAMPLED, {}):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["stage", "GET /sampled"]


def test_at_an_untrusted_edge_the_ratio_decides_callers_traces_too() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(
        "quarry-test", sample_ratio=0.0, span_exporter=exporter, honour_caller_sampling=False
    )
    with tracing.server_span("GET /sampled", SAMPLED, {}) as forced, tracing.span("stage"):
        assert tracing.trace_id_of(forced) == CALLER_TRACE  # the trace is continued, not recorded
    assert exporter.get_finished_spans() == ()
    every = InMemorySpanExporter()  # replacing the provider shuts the previous exporter down
    tracing.configure_tracing(
        "quarry-test", sample_ratio=1.0, span_exporter=every, honour_caller_sampling=False
    )
    with tracing.server_span("GET /unsampled", UNSAMPLED, {}):
        pass
    assert [s.name for s in every.get_finished_spans()] == ["GET /unsampled"]


def test_an_exception_leaving_a_stage_is_recorded_on_its_span() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("quarry-test", span_exporter=exporter)
    with tracing.server_span("GET /x", {}, {}), pytest.raises(KeyError), tracing.span("stage"):
        raise KeyError("boom")
    stage, _ = exporter.get_finished_spans()
    assert stage.status.status_code.name == "ERROR"
    assert [e.name for e in stage.events] == ["exception"]


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_over_http_delivers_spans_to_the_configured_endpoint() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"  # a collector's base URL, as users write it
        provider = tracing.configure_tracing("quarry-test", "otlp-http", endpoint)
        with tracing.server_span("GET /v1/search", {}, {}), tracing.span("rank"):
            pass
        assert provider.force_flush(10_000)
    finally:
        server.shutdown()
        server.server_close()
    (path, content_type, body) = _Receiver.received[-1]
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    assert sorted(span_names(request)) == ["GET /v1/search", "rank"]
    service = {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}
    assert service["service.name"] == "quarry-test"
    assert service["service.instance.id"].endswith(f":{os.getpid()}")  # workers told apart


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(  # noqa: N802 - the generated gRPC API
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def test_otlp_over_grpc_delivers_spans_to_the_configured_endpoint() -> None:
    receiver = _TraceService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        provider = tracing.configure_tracing("quarry-test", "otlp-grpc", f"http://127.0.0.1:{port}")
        with tracing.server_span("POST /v1/events", {}, {}), tracing.span("events.ingest"):
            pass
        assert provider.force_flush(10_000)
    finally:
        server.stop(grace=None)
    assert sorted(n for r in receiver.requests for n in span_names(r)) == ["POST /v1/events", "events.ingest"]


def test_the_console_exporter_writes_json_spans(capsys: pytest.CaptureFixture[str]) -> None:
    provider = tracing.configure_tracing("quarry-test", "console")
    with tracing.server_span("GET /health/live", {}, {}):
        pass
    provider.force_flush(10_000)
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "GET /health/live" and printed["kind"] == "SpanKind.SERVER"


def test_stages_nest_and_never_outlive_their_request() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("quarry-test", span_exporter=exporter)
    with tracing.span("background"):  # outside any request: not recorded
        pass
    with tracing.server_span("GET /x", {}, {}) as root:
        with tracing.span("outer", {"a": 1}) as outer, tracing.client_span("redis get", "redis", "get"):
            outer.set_attribute("b", 2)
        with tracing.span("second"):
            pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"GET /x", "outer", "redis get", "second"}
    root_id = root.get_span_context().span_id
    assert spans["outer"].parent is not None and spans["outer"].parent.span_id == root_id
    assert spans["second"].parent is not None and spans["second"].parent.span_id == root_id
    inner = spans["redis get"]
    assert inner.parent is not None and inner.parent.span_id == spans["outer"].context.span_id
    assert inner.kind.name == "CLIENT" and dict(inner.attributes or {})["db.system.name"] == "redis"
    assert dict(spans["outer"].attributes or {}) == {"a": 1, "b": 2}
    assert len({s.context.trace_id for s in spans.values()}) == 1
    outer_span = spans["outer"]
    assert outer_span.start_time is not None and outer_span.end_time is not None
    assert outer_span.start_time <= outer_span.end_time


def test_a_one_call_stage_becomes_the_calls_span() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("quarry-test", span_exporter=exporter)
    with tracing.server_span("GET /x", {}, {}), tracing.span("retrieve.keyword", one_call=True):
        with tracing.client_span("opensearch search", "opensearch", "search"):
            pass
        with tracing.client_span("opensearch get", "opensearch", "get"):  # a second call: its own span
            pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"GET /x", "retrieve.keyword", "opensearch get"}
    keyword = spans["retrieve.keyword"]
    assert keyword.kind.name == "CLIENT" and dict(keyword.attributes or {})["db.operation.name"] == "search"
    second = spans["opensearch get"]
    assert second.parent is not None and second.parent.span_id == keyword.context.span_id


def test_attributes_are_made_exportable() -> None:
    """One value OTLP cannot carry would fail the export of a whole batch of spans."""
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("quarry-test", span_exporter=exporter)
    with tracing.server_span("GET /x", {}, {}), tracing.span("stage") as stage:
        stage.set_attributes(
            {
                "numpy": np.float32(0.5),  # type: ignore[dict-item]
                "none": None,  # type: ignore[dict-item]
                "mixed": [1, None, 2],  # type: ignore[list-item]
                "long": "x" * 10_000,
            }
        )
    attributes = dict(next(s for s in exporter.get_finished_spans() if s.name == "stage").attributes or {})
    assert attributes["numpy"] == 0.5 and type(attributes["numpy"]) is float
    assert "none" not in attributes
    assert attributes["mixed"] == (1, 2)
    assert len(str(attributes["long"])) == tracing.MAX_ATTRIBUTE_CHARS
    encode_spans(exporter.get_finished_spans())  # the OTLP encoder takes them

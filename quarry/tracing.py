"""OpenTelemetry tracing: a span per request stage, exported where the settings say.

The SDK is installed even when nothing is exported, because it is what mints the W3C trace id of
every request (logs, error bodies and the `x-trace-id` header carry it). With the exporter `none`
the sampler records nothing, so a stage costs an id and a context switch, not a span.

Like logging, tracing is process-wide: `configure_tracing` installs the provider (the app factory
calls it in each worker, tests call it with an in-memory exporter) and `span` is used everywhere.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

log = logging.getLogger("quarry.tracing")

Exporter = Literal["none", "console", "otlp-http", "otlp-grpc"]
EXPORTERS: tuple[Exporter, ...] = ("none", "console", "otlp-http", "otlp-grpc")
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer


def _provider(service: str, sampler: Sampler) -> TracerProvider:
    return TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)


def _initial() -> _Tracing:
    provider = _provider("quarry", ALWAYS_OFF)
    return _Tracing(provider, provider.get_tracer("quarry"))


_STATE = _initial()


def _exporter(kind: Exporter, endpoint: str) -> SpanExporter | None:
    """The span exporter for a setting; OTLP exporters are imported only when chosen (gRPC pulls in
    grpcio). An empty endpoint means the exporter's default (localhost:4318 or :4317)."""
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter(out=sys.stdout)  # the stream now, not the one at import time
    if kind == "otlp-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=endpoint or None)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=endpoint or None, insecure=endpoint.startswith("http://") or None)


def configure_tracing(
    service: str,
    exporter: Exporter = "none",
    endpoint: str = "",
    sample_ratio: float = 1.0,
    span_exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install a tracer provider for this process, replacing (and flushing) the previous one.

    `span_exporter` overrides `exporter` and exports synchronously: tests read finished spans
    as soon as the request returns. A caller's sampled `traceparent` is honoured (ParentBased), so
    an upstream decision to trace a request holds here too."""
    chosen = span_exporter or _exporter(exporter, endpoint)
    sampler: Sampler = ParentBased(TraceIdRatioBased(sample_ratio)) if chosen else ALWAYS_OFF
    provider = _provider(service, sampler)
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif chosen is not None:
        provider.add_span_processor(BatchSpanProcessor(chosen))
    previous, _STATE.provider = _STATE.provider, provider
    _STATE.tracer = provider.get_tracer("quarry")
    previous.shutdown()
    if chosen is not None:
        log.info("tracing on", extra={"exporter": exporter, "endpoint": endpoint, "ratio": sample_ratio})
    return provider


def shutdown_tracing() -> None:
    """Export what is buffered and stop recording (the app calls this at shutdown; code that runs
    on in the same process, a test's teardown for one, gets ids without spans again)."""
    idle = _initial()
    previous, _STATE.provider, _STATE.tracer = _STATE.provider, idle.provider, idle.tracer
    previous.shutdown()


@contextmanager
def span(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Iterator[Span]:
    """One stage of the current request: a child of the active span. An exception leaving the block
    is recorded on the span and marks it as an error."""
    with _STATE.tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


@contextmanager
def client_span(name: str, system: str, operation: str) -> Iterator[Span]:
    """A call to a dependency (OpenSearch, Redis), named and attributed per the database semantic
    conventions so tracing back-ends group them."""
    with _STATE.tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": system, "db.operation.name": operation},
    ) as current:
        yield current


@contextmanager
def server_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, AttributeValue]
) -> Iterator[Span]:
    """The root span of an incoming request, continuing the caller's W3C trace when `traceparent`
    is valid and starting a new trace otherwise."""
    parent = _PROPAGATOR.extract(carrier=headers)
    with _STATE.tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as current:
        yield current


def current_span() -> Span:
    """The active span, for attributes known only at the end of a stage."""
    return trace.get_current_span()


def trace_id_of(current: Span) -> str:
    return format(current.get_span_context().trace_id, "032x")


def mark_error(current: Span, description: str) -> None:
    """Errors handled without an exception escaping (a 5xx answer, a degraded component)."""
    current.set_status(Status(StatusCode.ERROR, description))


def record_error(exc: BaseException) -> None:
    """An exception turned into an error response: recorded on the request's span, which would not
    see it otherwise (the exception handler answers before it reaches the tracing middleware)."""
    current = trace.get_current_span()
    current.record_exception(exc)
    current.set_status(Status(StatusCode.ERROR, type(exc).__name__))

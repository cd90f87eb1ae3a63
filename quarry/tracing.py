"""OpenTelemetry tracing: a span per request stage, exported where the settings say.

The SDK is installed even when nothing is exported, because it is what mints the W3C trace id of
every request (logs, error bodies and the `x-trace-id` header carry it).

Two kinds of spans, for cost. The request's root span is a regular SDK span: the sampler decides
there, and a caller's `traceparent` is continued. Its stages (normalization, OpenSearch calls,
ranking, ...) are recorded by `span()` as plain records and handed to the same span processors as
finished `ReadableSpan`s: an SDK span costs ~20 µs of Python to start and end, a stage record ~3 µs,
and a search has about twenty stages (reports/bench-search.md, "Tracing overhead"). Stages of an
unsampled request, or outside any request (background threads), cost a context-variable read.
The trade-off: a stage is visible to `span()` and `current_span()`, not to OpenTelemetry's context
API, so third-party auto-instrumentation would not nest under it (Quarry uses none).

Like logging, tracing is process-wide: `configure_tracing` installs the provider (the app factory
calls it in each worker, tests call it with an in-memory exporter) and `span` is used everywhere.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import random
import socket
import sys
import time
import traceback
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from quarry.ids import random_hex
from quarry.settings import TracingExporter as Exporter

log = logging.getLogger("quarry.tracing")

_PROPAGATOR = TraceContextTextMapPropagator()
_SCOPE = InstrumentationScope("quarry")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class StageSpan(Protocol):
    """What code can do with the span of its stage."""

    def is_recording(self) -> bool: ...
    def set_attribute(self, key: str, value: AttributeValue) -> None: ...
    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None: ...


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer
    resource: Resource
    processors: list[SpanProcessor] = field(default_factory=list)


def _provider(service: str, sampler: Sampler) -> TracerProvider:
    """`service.instance.id` tells the workers of one host apart in a trace view."""
    resource = Resource.create(
        {
            "service.name": service,
            "service.version": _version(),
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    return TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)


def _version() -> str:
    try:
        return importlib.metadata.version("quarry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _idle() -> _Tracing:
    provider = _provider("quarry", ALWAYS_OFF)
    return _Tracing(provider, provider.get_tracer("quarry"), provider.resource)


_STATE = _idle()


class _NotRecording:
    """The stage of a request nobody records: every call is a no-op."""

    def is_recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        pass


_NOT_RECORDING = _NotRecording()


class _Stage:
    """A recorded stage of a sampled request; becomes a `ReadableSpan` when it ends."""

    __slots__ = (
        "attributes",
        "awaits_call",
        "context",
        "events",
        "kind",
        "name",
        "parent",
        "start",
        "status",
    )

    def __init__(
        self,
        name: str,
        parent: SpanContext,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None,
        one_call: bool = False,
    ) -> None:
        self.awaits_call = one_call  # this stage is one dependency call: it becomes that call's span
        self.name = name
        self.parent = parent
        self.context = SpanContext(
            parent.trace_id, random.getrandbits(64), False, _SAMPLED, trace_state=parent.trace_state
        )
        self.kind = kind
        self.attributes: dict[str, AttributeValue] = {}
        if attributes:
            self.set_attributes(attributes)
        self.events: list[Event] = []
        self.status = Status(StatusCode.UNSET)
        self.start = time.time_ns()

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        clean = _attribute_value(value)
        if clean is not None:
            self.attributes[key] = clean

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def fail(self, exc: BaseException) -> None:
        self.events.append(_exception_event(exc))
        self.status = Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")

    def finished(self, resource: Resource) -> ReadableSpan:
        return ReadableSpan(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=resource,
            attributes=self.attributes,
            events=self.events,
            kind=self.kind,
            status=self.status,
            start_time=self.start,
            end_time=time.time_ns(),
            instrumentation_scope=_SCOPE,
        )


_PRIMITIVES = (str, bool, int, float)
MAX_ATTRIBUTE_CHARS = 4096


def _attribute_value(value: Any) -> AttributeValue | None:
    """What OTLP can carry: the SDK checks attributes of its own spans, stages are checked here. One
    bad value (a numpy float, None in a list) would otherwise fail the export of a whole batch."""
    if isinstance(value, str):
        return value[:MAX_ATTRIBUTE_CHARS]
    if isinstance(value, _PRIMITIVES):
        return value
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):  # a numpy scalar
        return _attribute_value(value.item())
    if isinstance(value, (list, tuple)):
        items = [_attribute_value(v) for v in value]
        kept = [v for v in items if v is not None]
        if kept and all(type(v) is type(kept[0]) for v in kept):
            return tuple(kept)
        return tuple(str(v) for v in kept) if kept else None
    return None if value is None else str(value)[:MAX_ATTRIBUTE_CHARS]


# The innermost recorded stage of the current request (None: the request's root span is innermost).
_CURRENT_STAGE: ContextVar[_Stage | None] = ContextVar("quarry_stage", default=None)


def _exception_event(exc: BaseException) -> Event:
    kind = type(exc)
    module = kind.__module__
    return Event(
        "exception",
        {
            "exception.type": f"{module}.{kind.__qualname__}" if module != "builtins" else kind.__qualname__,
            "exception.message": str(exc),
            "exception.stacktrace": "".join(traceback.format_exception(exc))[-MAX_ATTRIBUTE_CHARS:],
        },
    )


def _exporter(kind: Exporter, endpoint: str) -> SpanExporter | None:
    """The span exporter for a setting; OTLP exporters are imported only when chosen (gRPC pulls in
    grpcio). An empty endpoint means the exporter's default (localhost:4318 or :4317)."""
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter(out=sys.stdout)  # the stream now, not the one at import time
    if kind == "otlp-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=_traces_url(endpoint) if endpoint else None)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=endpoint or None, insecure=endpoint.startswith("http://") or None)


def _traces_url(endpoint: str) -> str:
    """A collector's base URL (`http://jaeger:4318`) gets the OTLP/HTTP traces path; a full URL is
    kept. The exporter posts to exactly the URL it is given."""
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.path in ("", "/"):
        return urllib.parse.urlunsplit(parsed._replace(path="/v1/traces"))
    return endpoint


def _sampler(ratio: float, honour_caller_sampling: bool) -> Sampler:
    by_ratio = TraceIdRatioBased(ratio)
    if honour_caller_sampling:
        return ParentBased(by_ratio)
    return ParentBased(by_ratio, remote_parent_sampled=by_ratio, remote_parent_not_sampled=by_ratio)


def configure_tracing(
    service: str,
    exporter: Exporter = "none",
    endpoint: str = "",
    sample_ratio: float = 1.0,
    span_exporter: SpanExporter | None = None,
    honour_caller_sampling: bool = True,
) -> TracerProvider:
    """Install a tracer provider for this process, replacing (and flushing) the previous one.

    `span_exporter` overrides `exporter` and exports synchronously: tests read finished spans
    as soon as the request returns. A caller's sampled `traceparent` is honoured (ParentBased), so
    an upstream decision to trace a request holds here too; with `honour_caller_sampling` off the
    ratio decides remote traces as well (the trace id is still continued), because at a public edge
    any client could otherwise have every one of its requests recorded and exported."""
    chosen = span_exporter or _exporter(exporter, endpoint)
    sampler: Sampler = _sampler(sample_ratio, honour_caller_sampling) if chosen else ALWAYS_OFF
    provider = _provider(service, sampler)
    processors: list[SpanProcessor] = []
    if span_exporter is not None:
        processors.append(SimpleSpanProcessor(span_exporter))
    elif chosen is not None:
        processors.append(BatchSpanProcessor(chosen))
    for processor in processors:
        provider.add_span_processor(processor)
    global _STATE
    # One assignment: request threads read _STATE without a lock and must never see a mix.
    installed = _Tracing(provider, provider.get_tracer("quarry"), provider.resource, processors)
    previous, _STATE = _STATE, installed
    previous.provider.shutdown()
    if chosen is not None:
        log.info("tracing on", extra={"exporter": exporter, "endpoint": endpoint, "ratio": sample_ratio})
    return provider


def shutdown_tracing() -> None:
    """Export what is buffered and stop recording (the app calls this at shutdown; code that runs
    on in the same process, a test's teardown for one, gets ids without spans again)."""
    global _STATE
    previous, _STATE = _STATE, _idle()
    previous.provider.shutdown()


def _parent_context() -> SpanContext | None:
    """The context a new stage hangs under, or None when the request is not being recorded."""
    stage = _CURRENT_STAGE.get()
    if stage is not None:
        return stage.context
    root = trace.get_current_span()
    return root.get_span_context() if root.is_recording() else None


@contextmanager
def _stage(
    name: str, kind: SpanKind, attributes: Mapping[str, AttributeValue] | None, one_call: bool = False
) -> Iterator[StageSpan]:
    parent = _parent_context()
    if parent is None:
        yield _NOT_RECORDING
        return
    stage = _Stage(name, parent, kind, attributes, one_call)
    token = _CURRENT_STAGE.set(stage)
    try:
        yield stage
    except BaseException as exc:
        stage.fail(exc)
        raise
    finally:
        _CURRENT_STAGE.reset(token)
        state = _STATE
        finished = stage.finished(state.resource)
        for processor in state.processors:
            processor.on_end(finished)


def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, one_call: bool = False
) -> AbstractContextManager[StageSpan]:
    """One stage of the current request: a child of the innermost stage (or of the request's span).
    An exception leaving the block is recorded on the span and marks it as an error.

    `one_call=True` for a stage that is a single OpenSearch or Redis call (the keyword query): the
    stage itself becomes that call's client span instead of gaining a child that repeats it."""
    return _stage(name, SpanKind.INTERNAL, attributes, one_call)


@contextmanager
def client_span(name: str, system: str, operation: str) -> Iterator[StageSpan]:
    """A call to a dependency (OpenSearch, Redis), named and attributed per the database semantic
    conventions so tracing back-ends group them."""
    attributes: dict[str, AttributeValue] = {"db.system.name": system, "db.operation.name": operation}
    stage = _CURRENT_STAGE.get()
    if stage is not None and stage.awaits_call:
        stage.awaits_call = False
        stage.kind = SpanKind.CLIENT
        stage.attributes.update(attributes)
        yield stage
        return
    with _stage(name, SpanKind.CLIENT, attributes) as call:
        yield call


@contextmanager
def server_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, AttributeValue]
) -> Iterator[Span]:
    """The root span of an incoming request, continuing the caller's W3C trace when `traceparent`
    is valid and starting a new trace otherwise."""
    parent = _PROPAGATOR.extract(carrier=headers)
    token = _CURRENT_STAGE.set(None)  # stages of another request never leak into this one
    try:
        with _STATE.tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as current:
            yield current
    finally:
        _CURRENT_STAGE.reset(token)


def current_span() -> StageSpan:
    """The innermost stage (or the request's span), for attributes known only at its end."""
    stage = _CURRENT_STAGE.get()
    return stage if stage is not None else trace.get_current_span()


def trace_id_of(current: Span) -> str:
    return format(current.get_span_context().trace_id, "032x")


def trace_id_from(traceparent: str | None) -> str:
    """The caller's trace id when `traceparent` is valid (read as the request span reads it), else a
    new one: for errors the router answers before the tracing middleware runs."""
    parent = trace.get_current_span(_PROPAGATOR.extract({"traceparent": traceparent or ""}))
    return trace_id_of(parent) if parent.get_span_context().is_valid else random_hex(16)


def mark_error(current: Span, description: str) -> None:
    """Errors handled without an exception escaping (a 5xx answer, a degraded component)."""
    current.set_status(Status(StatusCode.ERROR, description))


def record_error(exc: BaseException) -> None:
    """An exception turned into an error response: recorded on the request's span, which would not
    see it otherwise (the exception handler answers before it reaches the tracing middleware)."""
    current = trace.get_current_span()
    current.record_exception(exc)
    current.set_status(Status(StatusCode.ERROR, type(exc).__name__))

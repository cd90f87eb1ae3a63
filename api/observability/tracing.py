"""The request's trace: a server span per routed request, continuing the caller's W3C trace.

The span's trace id is the request's `trace_id` everywhere: the `x-trace-id` response header, every
error body and every log line of the request (bound into the log context here).
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from quarry.ids import random_hex
from quarry.logs import new_request_context
from quarry.metrics import UNMATCHED_ROUTE, method_label
from quarry.tracing import mark_error, server_span, trace_id_of

TRACE_HEADER = "x-trace-id"
_PROPAGATED = (b"traceparent", b"tracestate")


def tracing_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name in _PROPAGATED
        }
        route = str(scope.get("path_template") or UNMATCHED_ROUTE)
        method = method_label(str(scope.get("method", "")))
        attributes = {"http.request.method": method, "http.route": route, "url.path": str(scope["path"])}
        with server_span(f"{method} {route}", carrier, attributes) as current:
            trace_id = trace_id_of(current)
            scope.setdefault("state", {})["trace_id"] = trace_id
            new_request_context(trace_id=trace_id, request_id=random_hex(8))
            status = 500  # what the client gets if nothing answers

            async def send_with_trace(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    MutableScopeHeaders.from_message(message)[TRACE_HEADER] = trace_id
                await send(message)

            try:
                await app(scope, receive, send_with_trace)
            finally:
                current.set_attribute("http.response.status_code", status)
                if status >= 500:
                    mark_error(current, f"HTTP {status}")

    return middleware

"""RED metrics for every routed request, labelled by route template."""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from quarry.metrics import (
    HTTP_IN_FLIGHT,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    UNMATCHED_ROUTE,
    method_label,
    status_class,
)


def record_unrouted(method: str, status: int) -> None:
    """Requests the router answered itself (unknown path, wrong method) never reach this middleware:
    they are counted under one fixed route label, so random paths add no series."""
    HTTP_REQUESTS.labels(UNMATCHED_ROUTE, method_label(method), status_class(status)).inc()


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        route = str(scope.get("path_template") or UNMATCHED_ROUTE)
        method = method_label(str(scope.get("method", "")))
        status = 500  # what the client gets if the app fails before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        in_flight = HTTP_IN_FLIGHT.labels(route)
        in_flight.inc()
        try:
            await app(scope, receive, send_and_record)
        finally:
            in_flight.dec()
            HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(route, method, status_class(status)).inc()

    return middleware

"""RFC 9457 problem details with a trace id, for every error the API returns.

Frontends get one error shape; on-call engineers get a `trace_id` that finds the request's log lines.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from api.observability.middleware import record_unrouted
from api.observability.tracing import TRACE_HEADER
from quarry.tracing import record_error, trace_id_from

log = logging.getLogger("api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True):
    field: str | None
    reason: str


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    trace_id: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = msgspec.field(default_factory=list)


def request_trace_id(request: Request[Any, Any, Any]) -> str:
    """The request's trace id. Errors raised before routing (unknown path, wrong method) never pass
    through the tracing middleware, so the id is derived here too, from the same header."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    if not state.get("trace_id"):
        state["trace_id"] = trace_id_from(request.headers.get("traceparent"))
    return str(state["trace_id"])


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """The one way every error leaves the API: RFC 9457 body, the request's trace id in body and header."""
    problem = Problem(
        type=f"https://quarry.dev/problems/{status}",
        title=title,
        status=status,
        trace_id=request_trace_id(request),
        detail=detail,
        instance=request.url.path,
        errors=errors or [],
    )
    return Response(
        problem,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**(headers or {}), TRACE_HEADER: problem.trace_id},
    )


def _validation_errors(extra: Any) -> list[FieldError]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            errors.append(FieldError(field=item.get("key"), reason=str(item.get("message", item))))
    return errors


def _title(status: int) -> str:
    """The status's standard phrase: a problem's title names its kind, the detail says what happened."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if not request.scope.get("path_template"):
        # Raised by the router (unknown path, wrong method): routing failed, no middleware ran.
        record_unrouted(request.method, exc.status_code)
    invalid = isinstance(exc, ValidationException)
    return problem_response(
        request,
        exc.status_code,
        "Invalid request" if invalid else _title(exc.status_code),
        str(exc.detail) if exc.detail else None,
        _validation_errors(exc.extra) if invalid else None,
        headers=dict(exc.headers) if exc.headers else None,  # WWW-Authenticate on a 401, Retry-After
    )


def unhandled_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    record_error(exc)
    log.exception("unhandled error", extra={"trace_id": request_trace_id(request), "path": request.url.path})
    return problem_response(request, 500, "Internal error", "The error was logged with this trace_id.")


def bad_request_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """Domain validation (query empty after normalization, page too deep): the caller's mistake."""
    return problem_response(request, 400, "Invalid request", str(exc))


def not_found_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The request names something that does not exist (an API key id)."""
    return problem_response(request, 404, "Not Found", str(exc))


def conflict_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The request names something already taken (a client's query id used by another search)."""
    return problem_response(request, 409, "Conflict", str(exc))


def batch_rejected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """Invalid events: 422 with one entry per bad event (its index and reason); nothing was stored."""
    errors = [
        FieldError(field=f"events[{e.index}]", reason=f"event {e.event_id or '?'}: {e.reason}")
        for e in getattr(exc, "errors", [])
    ]
    return problem_response(request, 422, "Invalid events", str(exc), errors)


def service_unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """OpenSearch is down or overloaded: a retryable 503, not a 500. A 400 from OpenSearch is the
    request's fault (a query it cannot run): a 400 here too, which no outage alert counts; the
    cluster's message stays in the log, since it names indices and internals."""
    if getattr(exc, "status", None) == 400:
        log.warning(
            "search backend refused the request",
            extra={"trace_id": request_trace_id(request), "error": str(exc)},
        )
        return problem_response(
            request, 400, "Invalid request", "The search cannot be run with these parameters."
        )
    record_error(exc)
    log.error("search backend failed", extra={"trace_id": request_trace_id(request), "error": str(exc)})
    return problem_response(
        request, 503, "Search backend unavailable", "The search backend did not answer; retry shortly."
    )


def key_store_unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The API-key store did not answer: the key can be neither accepted nor refused, so a retryable
    503 (never a 401 that would make a client drop a good key)."""
    record_error(exc)
    log.error("API key store failed", extra={"trace_id": request_trace_id(request), "error": str(exc)})
    return problem_response(
        request, 503, "Authentication unavailable", "API keys cannot be checked right now; retry shortly."
    )


def erasure_incomplete_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """A user's erasure reached some stores and not others: a retryable 503 naming each store that
    failed and why (the receipt of what was erased is in the audit log)."""
    receipt = getattr(exc, "receipt", None)
    errors = [
        FieldError(field=s.store, reason=s.error) for s in (receipt.stores if receipt else []) if s.error
    ]
    log.error("erasure incomplete", extra={"trace_id": request_trace_id(request), "error": str(exc)})
    return problem_response(request, 503, "Erasure incomplete", str(exc), errors)

"""Structured JSON logging (structlog), one object per line, so `jq` can filter any Quarry log.

Modules log through the standard `logging` API (`logging.getLogger(__name__)`, `extra={...}` for
fields); structlog renders every record as JSON and adds the request's context (trace_id,
request_id, user_id) bound with `bind`, so each line of a request carries them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

SERVICE = {"name": "quarry"}


def bind(**fields: Any) -> None:
    """Add fields to the current request's log context."""
    bind_contextvars(**fields)


def new_request_context(**fields: Any) -> None:
    """Start a request's log context (the trace middleware calls this first)."""
    clear_contextvars()
    bind_contextvars(**fields)


def _service(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("service", SERVICE["name"])
    return event


def _formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _service,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ],
    )


def configure_logging(level: str = "INFO", service: str = "quarry", stream: TextIO | None = None) -> None:
    """Idempotent: the API factory (stdout) and every pipeline entry point (stderr, since their
    stdout carries results) call it."""
    SERVICE["name"] = service
    root = logging.getLogger()
    if any(isinstance(h.formatter, structlog.stdlib.ProcessorFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter())
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("opensearch", "opensearchpy.trace", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

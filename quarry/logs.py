"""Structured JSON logging, one object per line, so `jq` can filter any Quarry log."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any, TextIO

# Per-request fields (trace_id, request_id, user_id) that every log line of the request carries.
log_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)
SERVICE = {"name": "quarry"}


def bind(**fields: Any) -> None:
    """Add fields to the current request's log context."""
    log_context.set({**(log_context.get() or {}), **fields})


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": SERVICE["name"],
            "logger": record.name,
            "event": record.getMessage(),
            **(log_context.get() or {}),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO", service: str = "quarry", stream: TextIO | None = None) -> None:
    """Idempotent: the API factory (stdout) and every pipeline entry point (stderr, since their
    stdout carries results) call it."""
    SERVICE["name"] = service
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("opensearch", "opensearchpy.trace", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

"""What every Quarry DAG shares: owner, retries with exponential backoff, a timeout and the outcome
callbacks. A DAG file imports this module at parse time, so it imports nothing heavy: the callbacks
load their dependencies when they run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipelines.orchestration.callbacks import on_failure, on_success

OWNER = "quarry"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Every DAG's start date: in the past and fixed (catch-up is off, so no old runs are made)."""


def task_defaults(
    timeout: dt.timedelta, retries: int = 2, first_retry: dt.timedelta | None = None
) -> dict[str, Any]:
    """`default_args` of a DAG: retries after `first_retry` (default a minute), doubling up to 15
    minutes; a task running longer than `timeout` is failed (and retried)."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": first_retry or dt.timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=15),
        "execution_timeout": timeout,
        "on_failure_callback": on_failure,
        "on_success_callback": on_success,
    }

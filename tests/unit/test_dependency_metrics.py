"""Connections in use follow the calls in flight, including failed ones, per dependency."""

from __future__ import annotations

import threading

import pytest

from quarry.metrics import DEPENDENCY_CONNECTIONS_IN_USE, DEPENDENCY_ERRORS, dependency_call


def in_use(dependency: str) -> float:
    return DEPENDENCY_CONNECTIONS_IN_USE.labels(dependency)._value.get()


def test_in_use_counts_concurrent_calls_and_returns_to_zero() -> None:
    entered, release = threading.Barrier(4), threading.Event()

    def call() -> None:
        with dependency_call("test-db", "search"):
            entered.wait()
            release.wait()

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    entered.wait()  # all three are inside their call
    assert in_use("test-db") == 3
    release.set()
    for thread in threads:
        thread.join()
    assert in_use("test-db") == 0


class _OutageError(RuntimeError):
    retryable = True


def test_a_failed_call_releases_its_connection_and_counts_an_error() -> None:
    errors = DEPENDENCY_ERRORS.labels("test-db-2", "get")
    before = errors._value.get()
    with pytest.raises(_OutageError), dependency_call("test-db-2", "get"):
        assert in_use("test-db-2") == 1
        raise _OutageError("down")
    assert in_use("test-db-2") == 0
    assert errors._value.get() == before + 1

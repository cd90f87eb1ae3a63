"""Connections in use follow the calls in flight, including failed ones, per dependency; the artifact
version info metric follows replacements."""

from __future__ import annotations

import threading

import pytest

from quarry.metrics import (
    ARTIFACT_INFO,
    DEPENDENCY_CONNECTIONS_IN_USE,
    DEPENDENCY_ERRORS,
    artifact_served,
    dependency_call,
)


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


def test_a_replaced_artifact_version_is_no_longer_served() -> None:
    def served(version: str) -> float:
        return ARTIFACT_INFO.labels("test-artifact", version)._value.get()

    artifact_served("test-artifact", "v1", None)
    artifact_served("test-artifact", "v2", "v1")
    assert (served("v1"), served("v2")) == (0, 1)

"""The breaker-wrapped store: callers of a failing Redis stop calling it after the threshold, fail
fast while the circuit is open, and get one trial call after the cooldown."""

from __future__ import annotations

import pytest

from quarry.adapters.cache import CacheError, CircuitOpenError, GuardedStore
from quarry.circuit import CircuitBreaker


class FlakyStore:
    """Counts calls; fails while `down`."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = True

    def get(self, key: str) -> bytes | None:
        self.calls += 1
        if self.down:
            raise CacheError("connection refused")
        return b"v"

    def ping(self) -> bool:
        self.calls += 1
        return not self.down


def test_an_open_circuit_fails_fast_without_calling_the_store_and_one_trial_closes_it() -> None:
    now = [0.0]
    inner = FlakyStore()
    store = GuardedStore(inner, CircuitBreaker("t-guarded", threshold=3, cooldown_s=10, clock=lambda: now[0]))  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(CacheError):
            store.get("k")
    assert inner.calls == 3 and store.breaker.is_open
    with pytest.raises(CircuitOpenError):
        store.get("k")
    assert inner.calls == 3  # skipped, not waited for
    inner.down = False
    now[0] = 11.0
    assert store.get("k") == b"v"  # the trial call after the cooldown
    assert inner.calls == 4 and store.breaker.state == "closed"


def test_ping_sees_the_store_as_it_is_even_while_the_circuit_is_open() -> None:
    inner = FlakyStore()
    store = GuardedStore(inner, CircuitBreaker("t-guarded-ping", threshold=1))  # type: ignore[arg-type]
    with pytest.raises(CacheError):
        store.get("k")
    inner.down = False
    assert store.ping() is True

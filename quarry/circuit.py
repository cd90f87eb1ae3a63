"""A circuit breaker for optional dependencies (the result cache, feature stores).

After `threshold` consecutive failures the circuit opens and callers skip the dependency for
`cooldown_s`; then one trial call is let through (half-open) while everyone else keeps skipping it:
success closes the circuit, failure opens it again. A request must never wait on a dependency that is
known to be down, and a dependency that hangs must not get all the traffic back every cooldown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from quarry.metrics import CIRCUIT_OPEN


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()
        # Published closed from the start: a series that first appears when the breaker opens reads
        # "no data" on dashboards until then, and absent-series alerts cannot tell the two apart.
        CIRCUIT_OPEN.labels(name).set(0)

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        """Whether to call the dependency now. After the cooldown the first caller gets the trial call:
        the circuit re-arms for everyone else until that call's result is recorded (or another
        cooldown passes, should the caller never report)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at >= self.cooldown_s:
                self._opened_at = self._clock()
                return True
            return False

    @property
    def closed(self) -> bool:
        """Whether calls go through, read without the lock (one attribute: a hot path's check; a
        circuit opening meanwhile is seen by the next call)."""
        return self._opened_at is None

    @property
    def is_open(self) -> bool:
        """Status only (never grants a trial): whether callers are skipping the dependency."""
        return self.state == "open"

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._opened_at is not None:
                CIRCUIT_OPEN.labels(self.name).set(0)
            self._opened_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold or self._opened_at is not None:
                self._opened_at = self._clock()
                CIRCUIT_OPEN.labels(self.name).set(1)

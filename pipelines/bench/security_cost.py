"""What authentication and rate limits cost a cached search: issue 15's budget is 0.05 ms of API CPU
per cached search. Two readings, both in `make bench-search`:

- **end to end**: the API with keys and limits (`api_cached`: a search-only key, so both the
  address's and the key's window are checked) and the same API with QUARRY_AUTH=off and
  QUARRY_RATE_LIMITS=false (`api_cached_open`), driven by wrk in the same concurrency-16 rounds;
  per round, the difference in API CPU per request, and its median over the rounds. On two shared
  cores one round's figure moves by about as much as the budget, so the in-process reading below
  says what the cost is made of;
- **in process**: the guard alone (key verified before, no limits), timed in CPU time per call.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from types import SimpleNamespace
from typing import Any, cast

import msgspec

from pipelines.bench.load import percentile

BUDGET_MS = 0.05
WITH_AUTH = "api_cached"
WITHOUT_AUTH = "api_cached_open"


class SecurityOverhead(msgspec.Struct):
    per_round_ms: list[float]
    """API CPU per request with keys minus without, one figure per concurrency-16 round."""
    median_ms: float
    guard_cpu_us_mean: float
    guard_cpu_us_p99: float
    budget_ms: float = BUDGET_MS

    @property
    def within_budget(self) -> bool:
        return self.median_ms <= self.budget_ms


def guard_cpu(samples: int = 50_000) -> tuple[float, float]:
    """CPU time of the auth guard per request on a key the worker has verified before (mean and
    p99 in µs): header scan, hash, the worker's key memory, scope check."""
    from api.security.abuse import AbuseProtection
    from api.security.auth import Authenticator, require_key
    from quarry.access_lists import AccessLists
    from quarry.api_keys import ApiKeys, MemoryKeyStore
    from quarry.audit import AuditLog

    keys = ApiKeys(MemoryKeyStore())
    token = keys.create("bench", ("search",)).token
    authenticator = Authenticator(keys)
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"wrk"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    connection: Any = SimpleNamespace(
        app=SimpleNamespace(
            state=SimpleNamespace(
                authenticator=authenticator,
                rate_limits=None,
                # empty access lists (never loaded: no store is read here), as on most deployments
                abuse=AbuseProtection(AccessLists(cast(Any, None)), AuditLog(cast(Any, None))),
            )
        ),
        scope={"headers": headers, "client": ("127.0.0.1", 50000), "state": {}},
        state=SimpleNamespace(),
    )
    handler: Any = SimpleNamespace(opt={"scope": "search"})

    async def run() -> list[float]:
        await require_key(connection, handler)  # the first call reads the store
        timings = []
        for _ in range(samples):
            started = time.process_time_ns()
            await require_key(connection, handler)
            timings.append((time.process_time_ns() - started) / 1000)
        return timings

    timings = asyncio.run(run())
    # process_time has a coarse tick on some kernels: the mean over many calls is the figure.
    return statistics.fmean(timings), percentile(timings, 0.99)


def measure(rounds: list[Any]) -> SecurityOverhead:
    cpu: dict[tuple[str, int], float] = {}
    for row in rounds:  # the bench's Latency rows
        if row.api_cpu_ms is not None and row.round is not None:
            cpu[(row.system, row.round)] = row.api_cpu_ms
    numbers = sorted({number for system, number in cpu if system == WITH_AUTH})
    per_round = [
        round(cpu[(WITH_AUTH, n)] - cpu[(WITHOUT_AUTH, n)], 3) for n in numbers if (WITHOUT_AUTH, n) in cpu
    ]
    mean_us, p99_us = guard_cpu()
    return SecurityOverhead(
        per_round_ms=per_round,
        median_ms=round(statistics.median(per_round), 3) if per_round else float("nan"),
        guard_cpu_us_mean=round(mean_us, 2),
        guard_cpu_us_p99=round(p99_us, 2),
    )


def table(overhead: SecurityOverhead) -> list[str]:
    rounds = ", ".join(f"{value:+.3f}" for value in overhead.per_round_ms)
    return [
        "## What keys and rate limits cost a cached search (issue 15: at most 0.05 ms of API CPU)",
        "",
        f"API CPU per cached search with keys and limits minus without (QUARRY_AUTH=off, "
        f"QUARRY_RATE_LIMITS=false), concurrency 16, per "
        f"round: {rounds} ms; median **{overhead.median_ms:+.3f} ms** "
        f"({'within' if overhead.within_budget else 'over'} the {overhead.budget_ms} ms budget). "
        f"The guard alone, in process on a verified key: {overhead.guard_cpu_us_mean:.1f} µs of CPU per "
        f"request (p99 {overhead.guard_cpu_us_p99:.1f} µs); the rest is the rate-limit check (one Redis "
        "call for both windows) and its response headers.",
        "",
    ]

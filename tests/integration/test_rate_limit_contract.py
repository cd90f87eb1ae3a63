"""One contract for both rate-limit stores: the shared windows in the real Redis and the per-process
windows that stand in while Redis is down (quarry/rate_limits.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest
import uvloop

from quarry.adapters.resp import RespClient
from quarry.rate_limits import LocalRateLimits, RedisRateLimits, Window, window_key

T = TypeVar("T")


@pytest.fixture(params=["redis", "local"])
def limits(request, settings) -> Iterator[RedisRateLimits | LocalRateLimits]:
    if request.param == "local":
        yield LocalRateLimits()
    else:
        yield RedisRateLimits(RespClient(settings.redis_url, timeout_s=1.0))


def fresh(capacity: int, window_ms: int) -> Window:
    return Window(window_key("test", "ip", uuid.uuid4().hex), capacity, window_ms)


def run(limits: RedisRateLimits | LocalRateLimits, scenario: Awaitable[T]) -> T:
    """One uvloop event loop per test, as each API worker has one; the Redis connection closes with it."""

    async def closing() -> T:
        try:
            return await scenario
        finally:
            if isinstance(limits, RedisRateLimits):
                await limits.aclose()

    return uvloop.run(closing())


def test_n_requests_pass_then_the_next_is_refused_with_the_wait(limits) -> None:
    window = fresh(5, 2000)

    async def scenario():
        started = time.monotonic()
        verdicts = [await limits.hit([window]) for _ in range(6)]
        return verdicts, time.monotonic() - started

    verdicts, elapsed = run(limits, scenario())
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert [v.remaining for v in verdicts] == [4, 3, 2, 1, 0, 0]
    assert {v.limit for v in verdicts} == {5}
    refused = verdicts[-1]
    # The first request leaves the 2 s window 2 s after it was counted.
    assert 2.0 - elapsed - 0.05 <= refused.retry_after_s <= 2.0 + 0.01
    assert refused.retry_after_header() == "2"
    assert 0 < verdicts[0].reset_s <= 2.0


def test_a_place_frees_when_the_oldest_request_leaves_the_window(limits) -> None:
    window = fresh(2, 300)

    async def scenario():
        first = [await limits.hit([window]) for _ in range(3)]
        await asyncio.sleep(first[-1].retry_after_s + 0.02)
        return first, await limits.hit([window])

    first, later = run(limits, scenario())
    assert [v.allowed for v in first] == [True, True, False]
    assert later.allowed


def test_a_request_counts_in_every_window_or_in_none(limits) -> None:
    narrow, wide = fresh(2, 5000), fresh(10, 5000)

    async def scenario():
        both = [await limits.hit([narrow, wide]) for _ in range(4)]
        alone = await limits.hit([wide])
        return both, alone

    both, alone = run(limits, scenario())
    assert [v.allowed for v in both] == [True, True, False, False]
    assert both[1].limit == 2 and both[1].remaining == 0  # the headers follow the tighter window
    # The two refused requests were not counted in the wide window: 2 of 10 used, this is the 3rd.
    assert alone.allowed and alone.remaining == 7


def test_concurrent_requests_are_admitted_exactly(limits) -> None:
    window = fresh(20, 10_000)

    async def scenario():
        return await asyncio.gather(*(limits.hit([window]) for _ in range(60)))

    verdicts = run(limits, scenario())
    assert sum(v.allowed for v in verdicts) == 20


def test_windows_of_different_subjects_are_independent(limits) -> None:
    one, other = fresh(1, 5000), fresh(1, 5000)

    async def scenario():
        return [await limits.hit([one]), await limits.hit([one]), await limits.hit([other])]

    assert [v.allowed for v in run(limits, scenario())] == [True, False, True]

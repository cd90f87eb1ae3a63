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

from quarry.adapters.resp import RedisUnavailableError, RespClient
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


def test_a_silent_or_refusing_server_is_unavailable_in_time_and_the_client_recovers(settings) -> None:
    """A server that accepts and never answers, one that refuses the password: the client says
    Redis is unavailable within its timeout, and works again against Redis."""

    async def scenario() -> tuple[float, str, object]:
        stop = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            await stop.wait()
            writer.close()

        async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(b"-WRONGPASS invalid username-password pair\r\n")
            await writer.drain()
            await stop.wait()
            writer.close()

        quiet = await asyncio.start_server(silent, "127.0.0.1", 0)
        strict = await asyncio.start_server(refusing, "127.0.0.1", 0)
        client = RespClient(f"redis://127.0.0.1:{quiet.sockets[0].getsockname()[1]}/0", timeout_s=0.2)
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError):
            await client.call("PING")
        waited = time.monotonic() - started
        refused = RespClient(
            f"redis://:wrong@127.0.0.1:{strict.sockets[0].getsockname()[1]}/0", timeout_s=0.2
        )
        with pytest.raises(RedisUnavailableError) as error:
            await refused.call("PING")
        working = RespClient(settings.redis_url, timeout_s=0.2)
        pong = await working.call("PING")
        await working.aclose()
        stop.set()
        for server in (quiet, strict):
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0.05)  # the closed transports' last callbacks
        return waited, str(error.value), pong

    waited, refusal, pong = uvloop.run(scenario())
    assert 0.19 <= waited < 1.0
    assert "WRONGPASS" in refusal
    assert pong == "PONG"


def test_a_hidden_window_refuses_under_its_label_but_never_shows_in_the_headers(limits) -> None:
    shown = Window(window_key("test", "ip", uuid.uuid4().hex), 100, 5000, label="search")
    hidden = Window(window_key("test", "q", uuid.uuid4().hex), 2, 5000, label="repeated_query", shown=False)

    async def scenario():
        return [await limits.hit([shown, hidden]) for _ in range(3)]

    verdicts = run(limits, scenario())
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert [v.limit for v in verdicts] == [100, 100, 100]  # the shown window, though the hidden is tighter
    assert [v.remaining for v in verdicts] == [99, 98, 98]
    assert verdicts[-1].refused_by == "repeated_query" and verdicts[0].refused_by == ""

"""Early admission (quarry/rate_limits.py) against the real Redis: far from a limit a request does not
wait for Redis but is still counted there; near it every request waits, so the boundary stays exact."""

from __future__ import annotations

import asyncio
import uuid

import uvloop

from quarry.adapters.resp import RespClient
from quarry.rate_limits import EarlyAdmission, RateLimiter, RedisRateLimits, Window, window_key


def fresh(capacity: int) -> Window:
    return Window(window_key("test", "ip", uuid.uuid4().hex), capacity, 60_000, label="search")


def run(settings, scenario):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        client = RespClient(settings.redis_url, timeout_s=1.0)
        early = EarlyAdmission()
        limiter = RateLimiter(RedisRateLimits(client), early=early)
        try:
            return await scenario(limiter, early, client)
        finally:
            await client.aclose()

    return uvloop.run(main())


def test_far_from_the_limit_requests_do_not_wait_yet_every_one_is_counted(settings) -> None:
    window = fresh(1000)

    async def scenario(limiter, early, client):  # type: ignore[no-untyped-def]
        verdicts = [await limiter.hit([window], "search") for _ in range(200)]
        await asyncio.sleep(0.2)  # the answers of the early ones come back
        return verdicts, early.admitted, await client.call("ZCARD", window.key)

    verdicts, admitted, counted = run(settings, scenario)
    assert all(v.allowed for v in verdicts)
    assert admitted >= 150  # after the first exact answers, nearly all
    assert counted == 200  # none went uncounted
    assert verdicts[-1].remaining <= 1000 - 200 + 1 and verdicts[-1].limit == 1000


def test_near_the_limit_every_request_waits_and_the_boundary_is_exact(settings) -> None:
    window = fresh(40)

    async def scenario(limiter, early, client):  # type: ignore[no-untyped-def]
        verdicts = []
        for _ in range(45):
            verdicts.append(await limiter.hit([window], "search"))
            await asyncio.sleep(0)  # answers of early requests arrive between requests, as in a server
        await asyncio.sleep(0.2)
        return verdicts, early.overruns, await client.call("ZCARD", window.key)

    verdicts, overruns, counted = run(settings, scenario)
    assert [v.allowed for v in verdicts] == [True] * 40 + [False] * 5
    assert overruns == 0 and counted == 40


def test_a_burst_admitted_early_in_one_turn_cannot_pass_the_margin(settings) -> None:
    """Many requests in one event-loop turn (no answers in between): each admitted early one uses up
    margin locally, so the turn stops admitting early before the window could overflow."""
    window = fresh(100)

    async def scenario(limiter, early, client):  # type: ignore[no-untyped-def]
        await limiter.hit([window], "search")  # one exact answer to go by
        verdicts = await asyncio.gather(*(limiter.hit([window], "search") for _ in range(120)))
        await asyncio.sleep(0.2)
        return verdicts, early.overruns, await client.call("ZCARD", window.key)

    verdicts, overruns, counted = run(settings, scenario)
    assert sum(v.allowed for v in verdicts) == 99 and overruns == 0 and counted == 100


class CountingClient(RespClient):
    """Counts the calls sent without waiting: the early-admitted requests' counting."""

    nowait = 0

    def script_nowait(self, source, keys, args):  # type: ignore[no-untyped-def]
        self.nowait += 1
        return super().script_nowait(source, keys, args)


def test_requests_admitted_early_are_counted_in_few_redis_calls(settings) -> None:
    window = fresh(100_000)

    async def main():  # type: ignore[no-untyped-def]
        client = CountingClient(settings.redis_url, timeout_s=1.0)
        early = EarlyAdmission()
        limiter = RateLimiter(RedisRateLimits(client), early=early)
        try:
            for _ in range(300):
                await limiter.hit([window], "search")
                await asyncio.sleep(0)  # a server's other work between requests
            await asyncio.sleep(0.2)
            return early.admitted, client.nowait, await client.call("ZCARD", window.key)
        finally:
            await client.aclose()

    admitted, calls, counted = uvloop.run(main())
    assert counted == 300 and admitted >= 250
    assert calls <= admitted / 10  # batched, not one call per request


def test_a_batch_counts_each_request_in_all_its_windows_or_in_none(settings) -> None:
    small, large = fresh(3), fresh(100)

    async def main():  # type: ignore[no-untyped-def]
        client = RespClient(settings.redis_url, timeout_s=1.0)
        limits = RedisRateLimits(client)
        answers: list[tuple[object, dict[str, int], int]] = []
        try:
            await limits.hit([large])  # loads the scripts, as the first exact answer does
            for _ in range(5):
                limits.defer(
                    [small, large], lambda state, sent, overruns: answers.append((state, sent, overruns))
                )
            limits.flush()
            await asyncio.sleep(0.2)
            return answers, await client.call("ZCARD", small.key), await client.call("ZCARD", large.key)
        finally:
            await client.aclose()

    answers, in_small, in_large = uvloop.run(main())
    [(state, sent, overruns)] = answers
    assert (in_small, in_large) == (3, 1 + 3)  # the two that found no room in `small` count nowhere
    assert overruns == 2 and sent == {small.key: 5, large.key: 5}
    assert state[small.key][1] == 3 and state[large.key][1] == 4  # (capacity, count, reset)


def test_a_search_text_new_to_the_worker_goes_by_its_address_and_is_still_counted(settings) -> None:
    """A query window is new for nearly every search: while the client's address has made fewer
    searches than a text's limit less the margin, no text of its can be near its limit, so none waits
    for Redis (limits as high as the benchmark's, where the address is far from all of them)."""
    address = fresh(100_000)
    texts = [
        Window.of(
            window_key("test", "q", uuid.uuid4().hex),
            1000,
            label="repeated_query",
            shown=False,
            cover=address,
        )
        for _ in range(100)
    ]

    async def scenario(limiter, early, client):  # type: ignore[no-untyped-def]
        verdicts = []
        for text in texts:
            verdicts.append(await limiter.hit([address, text], "search"))
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        counted = [await client.call("ZCARD", text.key) for text in texts]
        return verdicts, early.admitted, counted, await client.call("ZCARD", address.key)

    verdicts, admitted, counted, by_address = run(settings, scenario)
    assert all(v.allowed for v in verdicts)
    assert admitted >= 90  # before: one exact call per new text
    assert counted == [1] * 100 and by_address == 100


def test_a_covered_window_still_refuses_exactly_at_its_limit(settings) -> None:
    address = fresh(1000)
    text = Window.of(window_key("test", "q", uuid.uuid4().hex), 20, label="repeated_query", cover=address)

    async def scenario(limiter, early, client):  # type: ignore[no-untyped-def]
        verdicts = []
        for _ in range(25):
            verdicts.append(await limiter.hit([address, text], "search"))
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        return verdicts, early.overruns, await client.call("ZCARD", text.key)

    verdicts, overruns, counted = run(settings, scenario)
    assert [v.allowed for v in verdicts] == [True] * 20 + [False] * 5
    assert verdicts[-1].refused_by == "repeated_query"
    assert overruns == 0 and counted == 20


def test_an_address_with_many_searches_lately_does_not_vouch_for_its_texts(settings) -> None:
    """The address's count bounds a text's only while it is below the text's limit less the margin:
    a busy address's new texts wait for Redis again."""
    address = fresh(1000)

    async def scenario(limiter, early, client):  # type: ignore[no-untyped-def]
        for _ in range(30):
            await limiter.hit([address], "search")
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        before = early.admitted
        text = Window.of(window_key("test", "q", uuid.uuid4().hex), 20, label="repeated_query", cover=address)
        await limiter.hit([address, text], "search")
        return early.admitted - before

    assert run(settings, scenario) == 0

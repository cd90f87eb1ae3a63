"""`make bench-ratelimit`: CPU per rate-limit check in an API worker's event loop, for the ways it
could be done, in one run against the same Redis (docs/security.md#rate-limits):

- `quarry`: the sliding-window script through Quarry's pipelining client, both windows of a public
  search (address and key) in one call: what the API runs;
- `redis_py_evalsha`: the same script through redis-py's asyncio client (the client the rest of
  Quarry uses);
- `limits_moving_window`: the `limits` library's moving window over redis-py, as its docs use it:
  `hit` and `get_window_stats` (for the RateLimit-* headers) for each of the two windows;
- `resp_ping`: a PING through Quarry's client, the floor of any call.

Each runs with 1 and with 8 requests in flight (an API worker at concurrency 16 has about 8);
CPU is this process's user + system time over the calls.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import uuid
from collections.abc import Awaitable, Callable

import msgspec
import uvloop
from tqdm import tqdm

from pipelines.bench.report import environment, publish_report
from quarry import connections
from quarry.adapters.resp import RespClient
from quarry.rate_limits import SLIDING_WINDOWS, RedisRateLimits, Window, window_key
from quarry.settings import get_settings

CALLS = 8_000
CONCURRENCY = (1, 8)
BUDGET_US = 50.0


class Row(msgspec.Struct):
    method: str
    concurrency: int
    calls: int
    cpu_us_per_check: float
    wall_us_per_check: float


class RateLimitBenchReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, object]
    rows: list[Row]
    budget_us: float


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


Check = Callable[[int], Awaitable[object]]


async def _measure(
    name: str, make: Callable[[], Awaitable[tuple[Check, Callable[[], Awaitable[None]]]]], concurrency: int
) -> Row:
    check, close = await make()
    for n in range(50):  # connect, load scripts
        await check(n)
    loop = asyncio.get_running_loop()
    bar = tqdm(total=CALLS, desc=f"{name} c{concurrency}", unit="check", disable=None, file=sys.stderr)

    async def worker(first: int) -> None:
        for n in range(first, CALLS, concurrency):
            await check(n)
            if n % 500 == 0:  # not per check: the bar's own CPU would count as the check's
                bar.update(500)

    cpu, wall = _cpu(), loop.time()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    cpu, wall = _cpu() - cpu, loop.time() - wall
    bar.close()
    await close()
    return Row(name, concurrency, CALLS, round(cpu / CALLS * 1e6, 1), round(wall / CALLS * 1e6, 1))


def _windows(run: str) -> list[Window]:
    big = 10**9  # never binding: every call does the full work of an admitted request
    return [
        Window(window_key("bench", "ip", run), big, 60_000),
        Window(window_key("bench", "key", run), big, 60_000),
    ]


def contenders(
    redis_url: str, run: str
) -> dict[str, Callable[[], Awaitable[tuple[Check, Callable[[], Awaitable[None]]]]]]:
    windows = _windows(run)

    async def quarry() -> tuple[Check, Callable[[], Awaitable[None]]]:
        limits = RedisRateLimits(RespClient(redis_url, timeout_s=1.0))

        async def check(_: int) -> object:
            return await limits.hit(windows)

        return check, limits.aclose

    async def ping() -> tuple[Check, Callable[[], Awaitable[None]]]:
        client = RespClient(redis_url, timeout_s=1.0)

        async def check(_: int) -> object:
            return await client.call("PING")

        return check, client.aclose

    async def redis_py() -> tuple[Check, Callable[[], Awaitable[None]]]:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(redis_url, max_connections=16)
        sha = await client.script_load(SLIDING_WINDOWS)
        keys = [w.key for w in windows]
        args: list[int | str] = []
        for w in windows:
            args += [w.capacity, w.window_ms]

        async def check(n: int) -> object:
            return await client.evalsha(sha, len(keys), *keys, f"{run}:{n}", *args)

        return check, client.aclose

    async def limits_library() -> tuple[Check, Callable[[], Awaitable[None]]]:
        from limits import RateLimitItemPerMinute
        from limits.aio.strategies import MovingWindowRateLimiter
        from limits.storage import storage_from_string

        storage = storage_from_string(
            redis_url.replace("redis://", "async+redis://"), implementation="redispy"
        )
        limiter = MovingWindowRateLimiter(storage)
        item = RateLimitItemPerMinute(10**6)
        subjects = [("ip", run), ("key", run)]

        async def check(_: int) -> object:
            for subject in subjects:
                await limiter.hit(item, *subject)
                await limiter.get_window_stats(item, *subject)
            return None

        async def close() -> None:
            await limiter.clear(item, *subjects[0])
            await limiter.clear(item, *subjects[1])

        return check, close

    return {
        "resp_ping": ping,
        "quarry": quarry,
        "redis_py_evalsha": redis_py,
        "limits_moving_window": limits_library,
    }


def main() -> int:
    settings = get_settings()
    run = uuid.uuid4().hex[:8]
    rows = []
    for name, make in contenders(settings.redis_url, run).items():
        for concurrency in CONCURRENCY:
            rows.append(uvloop.run(_measure(name, make, concurrency)))
            print(msgspec.json.encode(rows[-1]).decode(), file=sys.stderr)
    keys = [w.key for w in _windows(run)]
    uvloop.run(connections.resp_client(settings, 0.05).call("DEL", *keys))
    report = RateLimitBenchReport("bench-ratelimit", environment(), rows, BUDGET_US)
    lines = [
        f"# bench-ratelimit ({report.environment['commit']}, {report.environment['measured_at']})",
        "",
        "CPU of one rate-limit check in an API worker's event loop (uvloop), both windows of a public "
        f"search (client address and key), {CALLS:,} checks per row, against the same Redis in one run. "
        f"Issue 15 allows keys and limits together {BUDGET_US:.0f} µs per cached search.",
        "",
        "| method | in flight | CPU µs per check | wall µs per check |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {r.method} | {r.concurrency} | {r.cpu_us_per_check:.1f} | {r.wall_us_per_check:.1f} |"
            for r in rows
        ],
        "",
        "`quarry` is what the API runs (quarry/rate_limits.py through quarry/adapters/resp.py); "
        "`limits_moving_window` is the `limits` library's moving window as its documentation uses it "
        "(hit, then the window's stats for the headers, per window).",
    ]
    return publish_report("bench-ratelimit", report, lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Sliding-window rate limits shared by every API worker and instance (docs/security.md#rate-limits).

A limit of `rate` requests a minute with a `burst` is one sliding window of `burst` requests over
`burst / rate` minutes: 100 a minute with a burst of 150 admits at most 150 requests in any 90
seconds, so a client can spend 150 at once and averages 100 a minute over time. A window is a log
of its requests' times (a Redis sorted set), so decisions are exact: N requests pass, the next one
is refused, and `Retry-After` says when the oldest counted request leaves the window.

One request is checked against all its windows (the client address's and the key's) in one atomic
script: it is counted in every window only when every window admits it. The time is Redis's own, so
API hosts with skewed clocks agree.

When Redis does not answer, each process decides alone with the same windows in its memory
(`LocalRateLimits`): a client can then get the limit from every process, which is counted
(`quarry_rate_limit_fallbacks_total`) and logged; a request never fails because the limiter is down.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from quarry.adapters.resp import RedisUnavailableError, RespClient, RespError
from quarry.circuit import CircuitBreaker
from quarry.lru import Lru
from quarry.metrics import RATE_LIMIT_FALLBACKS, RATE_LIMITED

log = logging.getLogger("quarry.rate_limits")

KEY_PREFIX = "ratelimit"
LOCAL_SUBJECTS = 100_000
"""Windows one process keeps in memory while Redis is down (least recently used ones go first)."""


def window_key(limited: str, kind: str, subject: str) -> str:
    """The Redis key of one window: what is limited (search, recommend), whose (ip, key) and who."""
    return f"{KEY_PREFIX}:{limited}:{kind}:{subject}"


class Window(msgspec.Struct, frozen=True):
    key: str
    capacity: int
    window_ms: int
    label: str = ""
    """What a refusal by this window is counted and explained as (search, repeated_query, …)."""
    shown: bool = True
    """Whether the RateLimit-* headers may describe this window: an abuse window (the same query
    20 times a minute) is not a limit a client plans by."""
    cover: str = ""
    """The key of a window that counts every request this one counts, in the same script call, over
    at least as long (the address's window for its query windows): its count bounds this one's, so
    early admission can decide on it while this window is new to the worker."""

    @classmethod
    def of(
        cls,
        key: str,
        per_minute: int,
        burst: int | None = None,
        minute_s: float = 60.0,
        label: str = "",
        shown: bool = True,
        cover: Window | None = None,
    ) -> Window:
        """`per_minute` on average with at most `burst` at once (default: no burst beyond the rate).
        `cover`: a window every request of this one is also counted in; it must last at least as long."""
        capacity = max(burst or per_minute, per_minute)
        window_ms = max(1, round(minute_s * 1000 * capacity / per_minute))
        if cover is not None and cover.window_ms < window_ms:
            raise ValueError(f"{cover.key} is shorter than {key}: its count does not bound this window's")
        return cls(key, capacity, window_ms, label, shown, cover.key if cover is not None else "")


class Verdict(msgspec.Struct, frozen=True):
    """The decision and what the RateLimit-* headers say: of the request's windows, the one with the
    least room left."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    """Seconds until the window frees a place (its oldest counted request leaves it)."""
    retry_after_s: float = 0.0
    """When refused: seconds until every window admits a request again."""
    refused_by: str = ""
    """When refused: the label of a window that was full (the first one)."""
    state: tuple[tuple[int, float], ...] = ()
    """Per window: the requests it counts and its oldest one's remaining life in ms (what early
    admission learns from)."""

    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


def verdict_of(
    allowed: bool,
    retry_ms: float,
    windows: Sequence[Window],
    state: Sequence[tuple[int, float]],
) -> Verdict:
    """`state` holds, per window, the requests it counts after this one and its oldest one's
    remaining life in ms. The headers describe the shown window with the least room left."""
    shown = [i for i in range(len(windows)) if windows[i].shown] or list(range(len(windows)))
    binding = min(shown, key=lambda i: (windows[i].capacity - state[i][0], -state[i][1]))
    refused_by = ""
    if not allowed:
        full = [i for i in range(len(windows)) if state[i][0] >= windows[i].capacity]
        refused_by = windows[full[0]].label if full else ""
    window = windows[binding]
    used, reset_ms = state[binding]
    return Verdict(
        allowed=allowed,
        limit=window.capacity,
        remaining=max(0, window.capacity - used),
        reset_s=max(0.0, reset_ms) / 1000,
        retry_after_s=0.0 if allowed else max(0.0, retry_ms) / 1000,
        refused_by=refused_by,
        state=tuple(state),
    )


@runtime_checkable
class RateLimitStore(Protocol):
    async def hit(self, windows: Sequence[Window]) -> Verdict: ...


# KEYS: one sorted set per window. ARGV: a member unique to this request, then capacity and length
# in ms of each window. Returns allowed (0/1), the retry wait in ms, then per window the requests
# it counts and the remaining life of its oldest one in ms.
SLIDING_WINDOWS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local allowed = 1
local retry = 0
local counts = {}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i])
  local length = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - length)
  local count = redis.call('ZCARD', KEYS[i])
  counts[i] = count
  if count >= capacity then
    allowed = 0
    local blocking = redis.call('ZRANGE', KEYS[i], count - capacity, count - capacity, 'WITHSCORES')
    local wait = tonumber(blocking[2]) + length - now
    if wait > retry then retry = wait end
  end
end
local out = {allowed, retry}
for i = 1, #KEYS do
  local length = tonumber(ARGV[2 * i + 1])
  if allowed == 1 then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], length)
    counts[i] = counts[i] + 1
  end
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local reset = 0
  if oldest[2] then reset = tonumber(oldest[2]) + length - now end
  out[#out + 1] = counts[i]
  out[#out + 1] = reset
end
return out
"""


# Counts requests a worker already admitted early (EarlyAdmission), many in one call. KEYS: the
# distinct windows. ARGV[1]: the batch, in MessagePack (one argument: the worker encodes it in C, not
# argument by argument): member prefix, number of the first request, per window its capacity, length
# in ms and whether to report it, then per request the positions of its windows in KEYS. A request is
# counted in its windows only when all have room (as SLIDING_WINDOWS would); one that had none is an
# overrun. Returns the overruns, then per reported window the requests it counts and its oldest one's
# remaining life (a query window is not reported: its address's window vouches for it).
COUNT_ADMITTED = """
local batch = cmsgpack.unpack(ARGV[1])
local prefix, first, windows, requests = batch[1], batch[2], batch[3], batch[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windows[i][2])
  count[i] = redis.call('ZCARD', KEYS[i])
end
local overruns = 0
for r = 1, #requests do
  local positions = requests[r]
  local room = true
  for j = 1, #positions do
    local i = positions[j]
    if count[i] >= windows[i][1] then room = false end
  end
  if room then
    local member = prefix .. ':' .. string.format('%d', first + r - 1)
    for j = 1, #positions do
      local i = positions[j]
      redis.call('ZADD', KEYS[i], now, member)
      count[i] = count[i] + 1
    end
  else
    overruns = overruns + 1
  end
end
local out = {overruns}
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], windows[i][2])
  if windows[i][3] == 1 then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local reset = 0
    if oldest[2] then reset = tonumber(oldest[2]) + windows[i][2] - now end
    out[#out + 1] = count[i]
    out[#out + 1] = reset
  end
end
return out
"""

# (windows: per key, its capacity, its count and its oldest request's remaining life in ms; requests
# counted per key; overruns), or None when the batch got no answer.
BatchAnswer = Callable[[dict[str, tuple[int, int, float]] | None, dict[str, int], int], None]


class RedisRateLimits:
    """The shared windows, in Redis, through the pipelining client (quarry/adapters/resp.py)."""

    def __init__(self, client: RespClient, batch_interval_s: float = 0.005, batch_size: int = 256) -> None:
        self._client = client
        self._members = 0
        self._prefix = f"{os.getpid()}:{time.monotonic_ns()}"
        self._batch_interval_s = batch_interval_s
        self._batch_size = batch_size
        self._batch: list[Sequence[Window]] = []
        self._batch_answer: BatchAnswer | None = None
        self._flush_scheduled: asyncio.TimerHandle | None = None
        self._batch_ready = False

    async def _run(self, windows: Sequence[Window], member: str) -> list[int]:
        args: list[bytes | str | int] = [member]
        for window in windows:
            args += [window.capacity, window.window_ms]
        reply: list[int] = await self._client.script(SLIDING_WINDOWS, [w.key for w in windows], args)
        return reply

    async def hit(self, windows: Sequence[Window]) -> Verdict:
        self._members += 1
        member = f"{self._prefix}:{self._members}"  # before any await: other requests count on
        if not self._batch_ready:  # before any early admission (it learns from exact answers)
            await self._client.load(COUNT_ADMITTED)
            self._batch_ready = True
        reply = await self._run(windows, member)
        return self._verdict(reply, windows)

    @staticmethod
    def _verdict(reply: list[int], windows: Sequence[Window]) -> Verdict:
        state = [(int(reply[2 + 2 * i]), float(reply[3 + 2 * i])) for i in range(len(windows))]
        return verdict_of(bool(reply[0]), float(reply[1]), windows, state)

    def send(self, windows: Sequence[Window], on_answer: Callable[[Verdict | None], None]) -> bool:
        """Count the request in Redis without waiting: the same script, its answer handed to
        `on_answer` when it comes (None: no answer). False when that is not possible right now."""
        self._members += 1
        args: list[bytes | str | int] = [f"{self._prefix}:{self._members}"]
        for window in windows:
            args += [window.capacity, window.window_ms]
        sent = self._client.script_nowait(SLIDING_WINDOWS, [w.key for w in windows], args)
        if sent is None:
            return False

        def answered(reply: asyncio.Future[Any]) -> None:
            if reply.cancelled() or reply.exception() is not None:
                on_answer(None)
            else:
                on_answer(self._verdict(reply.result(), windows))

        sent.add_done_callback(answered)
        return True

    def defer(self, windows: Sequence[Window], on_batch: BatchAnswer) -> None:
        """Count an early-admitted request in Redis with the others of the next few milliseconds, in
        one call: per request, the CPU of a Redis call is most of what limits cost a cached search
        (docs/security.md#rate-limits)."""
        self._batch.append(windows)
        self._batch_answer = on_batch
        if len(self._batch) >= self._batch_size:
            self.flush()
        elif self._flush_scheduled is None:
            self._flush_scheduled = asyncio.get_running_loop().call_later(self._batch_interval_s, self.flush)

    def flush(self) -> None:
        if self._flush_scheduled is not None:
            self._flush_scheduled.cancel()
            self._flush_scheduled = None
        batch, self._batch = self._batch, []
        on_batch = self._batch_answer
        if not batch or on_batch is None:
            return
        positions: dict[str, int] = {}
        windows: list[Window] = []
        sent: dict[str, int] = {}
        requests = []
        for request_windows in batch:
            request = []
            for window in request_windows:
                key = window.key
                position = positions.get(key)
                if position is None:
                    position = positions[key] = len(windows) + 1  # Lua counts from 1
                    windows.append(window)
                    sent[key] = 1
                else:
                    sent[key] += 1
                request.append(position)
            requests.append(request)
        first = self._members + 1
        self._members += len(batch)
        payload = msgspec.msgpack.encode(
            (
                self._prefix,
                first,
                [(w.capacity, w.window_ms, 0 if w.cover else 1) for w in windows],
                requests,
            )
        )
        keys = [w.key for w in windows]
        reported = [w for w in windows if not w.cover]

        def run_loading() -> asyncio.Future[Any]:
            """The slow way, which (re)loads the script: after a reconnect or a Redis restart."""
            return asyncio.ensure_future(self._client.script(COUNT_ADMITTED, keys, [payload]))

        def answered(done: asyncio.Future[Any]) -> None:
            error = None if done.cancelled() else done.exception()
            if isinstance(error, RespError) and str(error).startswith("NOSCRIPT"):
                run_loading().add_done_callback(answered)
                return
            if done.cancelled() or error is not None:
                on_batch(None, sent, 0)
                return
            values = done.result()
            state = {
                w.key: (w.capacity, int(values[1 + 2 * i]), float(values[2 + 2 * i]))
                for i, w in enumerate(reported)
            }
            on_batch(state, sent, int(values[0]))

        reply = self._client.script_nowait(COUNT_ADMITTED, keys, [payload]) or run_loading()
        reply.add_done_callback(answered)

    async def aclose(self) -> None:
        self.flush()
        await self._client.aclose()


class LocalRateLimits:
    """The same windows in this process's memory: the fallback while Redis is down, and the store of
    unit tests (it passes the same contract tests as RedisRateLimits)."""

    def __init__(self, clock: Callable[[], float] = time.time, subjects: int = LOCAL_SUBJECTS) -> None:
        self._clock = clock
        self._logs: Lru[str, collections.deque[float]] = Lru(subjects)

    async def hit(self, windows: Sequence[Window]) -> Verdict:
        now = self._clock() * 1000
        logs = []
        allowed = True
        retry = 0.0
        for window in windows:
            entries = self._logs.get(window.key)
            if entries is None:
                entries = collections.deque()
                self._logs.put(window.key, entries)
            while entries and entries[0] <= now - window.window_ms:
                entries.popleft()
            if len(entries) >= window.capacity:
                allowed = False
                blocking = entries[len(entries) - window.capacity]
                retry = max(retry, blocking + window.window_ms - now)
            logs.append(entries)
        state = []
        for window, entries in zip(windows, logs, strict=True):
            if allowed:
                entries.append(now)
            state.append((len(entries), entries[0] + window.window_ms - now if entries else 0.0))
        return verdict_of(allowed, retry, windows, state)


PENDING_SHARE = 4
"""A worker holds at most a quarter of a window's margin admitted early and not yet counted in
Redis, so four workers' uncounted requests together fit in the margin."""


class _Estimate:
    """What a worker knows of one window: its count at the last exact answer, when that was, and
    the requests this worker admitted early since (counted in Redis, answers not back yet). `margin`
    and `pending_cap` follow from the window's capacity, worked out once per window."""

    __slots__ = ("count", "margin", "pending", "pending_cap", "reset_ms", "seen_at")

    def __init__(
        self, count: int, reset_ms: float, seen_at: float, margin: float, pending_cap: float
    ) -> None:
        self.count = count
        self.reset_ms = reset_ms
        self.seen_at = seen_at
        self.pending = 0
        self.margin = margin
        self.pending_cap = pending_cap


class EarlyAdmission:
    """Admits a request without waiting for Redis when every one of its windows was, a moment ago,
    far from full; the request is still counted in Redis, with the others admitted early in the same
    few milliseconds in one call (RedisRateLimits.defer), and the answer updates what the worker
    knows. Near a limit (less room than the margin), with nothing recent to go by, or with a quarter
    of the margin admitted early and not yet counted, requests wait for Redis's exact answer, so the
    N-then-429 boundary stays exact. A window new to the worker is judged by its `cover` when it has
    one (a client's query window by the client's address window, which counts at least as much).

    Why: awaiting Redis costs a request an extra event-loop turn, which is most of what limits
    cost a cached search (docs/security.md#rate-limits). What it risks: other workers' and
    instances' requests in the last `max_age_s` are unknown here; the margin (10 % of the window, at
    least 8 requests) is room for them. A request the script then refuses was already answered: it
    is counted in `overruns`.

    It runs on the event loop only, once per limited request: a plain dict, pruned of estimates too
    old to use when it grows past `subjects`, and no helper calls on the way to a yes."""

    def __init__(
        self,
        margin_share: float = 0.1,
        min_margin: int = 8,
        max_age_s: float = 0.5,
        subjects: int = LOCAL_SUBJECTS,
    ) -> None:
        self._margin_share = margin_share
        self._min_margin = min_margin
        self._max_age_s = max_age_s
        self._subjects = subjects
        self._estimates: dict[str, _Estimate] = {}
        self.overruns = 0
        self.admitted = 0

    def admit(self, windows: Sequence[Window]) -> Verdict | None:
        now = time.monotonic()
        oldest = now - self._max_age_s
        estimates = self._estimates
        # The shown window with the least room left makes the RateLimit-* headers.
        limit, remaining, reset_ms = 0, -1, 0.0
        own: list[_Estimate] = []
        for window in windows:
            capacity = window.capacity
            estimate = estimates.get(window.key)
            if (
                estimate is None
                or estimate.seen_at < oldest
                or capacity - estimate.count - estimate.pending - 1 < estimate.margin
                or estimate.pending >= estimate.pending_cap
            ):
                # New to this worker (a query window), or near full: its cover's count bounds its
                # own, against this window's margin.
                cover = estimates.get(window.cover) if window.cover else None
                if cover is None or cover.seen_at < oldest:
                    return None
                margin, pending_cap = self._margins(capacity)
                if capacity - cover.count - cover.pending - 1 < margin or cover.pending >= pending_cap:
                    return None
                continue  # counted under the cover; an abuse window is not shown
            own.append(estimate)
            if window.shown:
                room = capacity - estimate.count - estimate.pending - 1
                if remaining < 0 or room < remaining:
                    limit, remaining = capacity, room
                    reset_ms = estimate.reset_ms - (now - estimate.seen_at) * 1000
        for estimate in own:
            estimate.pending += 1
        self.admitted += 1
        return Verdict(True, limit, max(0, remaining), max(0.0, reset_ms) / 1000)

    def _known(self, window_key: str, capacity: int, count: int, reset_ms: float, now: float) -> None:
        estimate = self._estimates.get(window_key)
        if estimate is not None:
            estimate.count, estimate.reset_ms, estimate.seen_at = count, reset_ms, now
            return
        if len(self._estimates) >= self._subjects:
            self._prune(now)
        self._estimates[window_key] = _Estimate(count, reset_ms, now, *self._margins(capacity))

    def _margins(self, capacity: int) -> tuple[float, float]:
        """Room kept for other workers' requests, and how many of its own this worker may hold
        uncounted (a quarter of that room)."""
        margin = max(self._min_margin, capacity * self._margin_share)
        return margin, max(1, margin // PENDING_SHARE)

    def _prune(self, now: float) -> None:
        """Forget what is too old to admit on (what waits for answers stays); all of it if that is not
        enough (the next requests of each window wait for Redis once)."""
        oldest = now - self._max_age_s
        kept = {key: e for key, e in self._estimates.items() if e.seen_at >= oldest or e.pending}
        self._estimates = kept if len(kept) < self._subjects // 2 else {}

    def learn(self, windows: Sequence[Window], verdict: Verdict | None, early: bool) -> None:
        """Take an exact answer in; `early`: it answers a request admitted early."""
        if verdict is None:  # no answer: forget, so the next request waits for an exact one
            for window in windows:
                self._estimates.pop(window.key, None)
            return
        if early and not verdict.allowed:
            self.overruns += 1
        now = time.monotonic()
        for window, (count, reset_ms) in zip(windows, verdict.state, strict=True):
            self._known(window.key, window.capacity, count, reset_ms, now)
            if early:
                estimate = self._estimates[window.key]
                estimate.pending = max(0, estimate.pending - 1)

    def learn_batch(
        self, state: dict[str, tuple[int, int, float]] | None, sent: dict[str, int], overruns: int
    ) -> None:
        """Take in the answer to a batch of early-admitted requests (RedisRateLimits.defer): per
        window its capacity, count and oldest request's remaining life."""
        self.overruns += overruns
        now = time.monotonic()
        for key, counted in sent.items():
            if state is None:  # no answer: forget, so the next request waits
                self._estimates.pop(key, None)
                continue
            known = state.get(key)
            if known is not None:
                self._known(key, *known, now)
            estimate = self._estimates.get(key)  # a query window is not reported, only counted
            if estimate is not None:
                estimate.pending = max(0, estimate.pending - counted)


class RateLimiter:
    """Redis when it answers, this process's memory when it does not; never an error. With `early`,
    requests far from their limits do not wait for Redis (EarlyAdmission)."""

    def __init__(
        self,
        shared: RateLimitStore,
        local: RateLimitStore | None = None,
        breaker: CircuitBreaker | None = None,
        early: EarlyAdmission | None = None,
    ) -> None:
        self._shared = shared
        self._local = local or LocalRateLimits()
        self._breaker = breaker or CircuitBreaker("rate_limits")
        self.early = early
        self._send = getattr(shared, "send", None)
        self._defer = getattr(shared, "defer", None)
        self._flush = getattr(shared, "flush", None)

    def admit_early(self, windows: Sequence[Window]) -> Verdict | None:
        """The verdict without waiting for Redis, when early admission allows it (the request is
        counted in Redis soon after); None: `hit` decides. Not a coroutine: the common case costs no
        await."""
        early = self.early
        if early is None or self._send is None or not self._breaker.closed:
            return None
        admitted = early.admit(windows)
        if admitted is None:
            return None
        if self._defer is not None:
            self._defer(windows, early.learn_batch)
            return admitted
        if self._send(windows, lambda answer: early.learn(windows, answer, early=True)):
            return admitted
        early.learn(windows, None, early=True)  # not sent: undo, and let `hit` ask Redis
        return None

    async def hit(self, windows: Sequence[Window], limited: str) -> Verdict:
        admitted = self.admit_early(windows)
        return admitted if admitted is not None else await self.exact(windows, limited)

    async def exact(self, windows: Sequence[Window], limited: str) -> Verdict:
        """Redis's answer (this process's when Redis does not answer), waited for."""
        early = self.early
        verdict: Verdict | None = None
        if self._breaker.allow():
            if self._flush is not None:
                self._flush()  # counted before this request, so its exact answer includes them
            try:
                verdict = await self._shared.hit(windows)
                self._breaker.record_success()
                if early is not None:
                    early.learn(windows, verdict, early=False)
            except (RedisUnavailableError, RespError) as exc:
                self._breaker.record_failure()
                log.warning(
                    "rate limits decided per process: Redis did not answer", extra={"error": str(exc)}
                )
        if verdict is None:
            RATE_LIMIT_FALLBACKS.inc()
            verdict = await self._local.hit(windows)
        if not verdict.allowed:
            RATE_LIMITED.labels(verdict.refused_by or limited).inc()
        return verdict

    async def aclose(self) -> None:
        close = getattr(self._shared, "aclose", None)
        if close is not None:
            await close()

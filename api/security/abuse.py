"""Abuse protection (docs/security.md#abuse-protection): allow and deny lists, product-page
enumeration, and the record every block leaves. (The same query over and over is a window of the
rate limits: api/security/limits.py.)

Every block counts in `quarry_abuse_blocks_total{reason}` (reasons: denied, repeated_query,
enumeration). The first block of an episode (an enumeration block; for the others, a client's first
for the reason in a minute in a worker) also writes a structured log line and an admin audit entry
(actor `quarry`); the rest of a flood only counts, so a flood cannot fill the audit log.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time

import msgspec

from quarry.access_lists import AccessLists, Match
from quarry.adapters.resp import RedisUnavailableError, RespClient, RespError
from quarry.audit import SYSTEM_ACTOR, AuditLog
from quarry.circuit import CircuitBreaker
from quarry.lru import Lru
from quarry.metrics import ABUSE_BLOCKS

log = logging.getLogger("api.abuse")
RECORD_EVERY_S = 60.0
AUDIT_QUEUE = 1000
ENUMERATION_KEY_PREFIX = "abuse:products"
_TRAILING_NUMBER = re.compile(r"(\d{1,15})\D*$")

# KEYS: the client's block flag and its list of recent product numbers. ARGV: the requested number
# ('' for an id without one), how many to keep, their lifetime in ms, the largest gap that counts as
# near-sequential, the run that counts as enumeration, the cool-down in ms. Returns blocked (0/1), the
# block's remaining ms, and 1 when this request started the block. A run is either near-sequential
# (sorted distinct numbers no more than the gap apart: P100, P101, P103, …, in any order, which also
# catches several crawlers interleaved) or a constant stride (P100, P150, P200, …).
ENUMERATION = """
local blocked = redis.call('PTTL', KEYS[1])
if blocked > 0 then return {1, blocked, 0} end
if ARGV[1] == '' then return {0, 0, 0} end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
local values, seen = {}, {}
for _, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local n = tonumber(v)
  if n and not seen[n] then seen[n] = true; values[#values + 1] = n end
end
table.sort(values)
local gap, run = tonumber(ARGV[4]), tonumber(ARGV[5])
local near, stride, longest = 1, 1, 1
for i = 2, #values do
  local d = values[i] - values[i - 1]
  if d <= gap then near = near + 1 else near = 1 end
  if i > 2 and d == values[i - 1] - values[i - 2] then stride = stride + 1 else stride = 2 end
  longest = math.max(longest, near, stride)
end
if longest >= run then
  redis.call('SET', KEYS[1], '1', 'PX', tonumber(ARGV[6]))
  redis.call('DEL', KEYS[2])
  return {1, tonumber(ARGV[6]), 1}
end
return {0, 0, 0}
"""


class Enumeration(msgspec.Struct, frozen=True):
    blocked: bool
    retry_after_s: float = 0.0
    started: bool = False
    """This request is the one that tipped the client into a block."""


NOT_BLOCKED = Enumeration(blocked=False)


class EnumerationGuard:
    """Product-page enumeration per client address, decided in Redis (shared by every worker and
    instance) in one script call. When Redis does not answer, product pages are served unguarded:
    abuse protection never fails a request."""

    def __init__(
        self,
        client: RespClient,
        run: int,
        cooldown_s: float,
        remembered: int = 20,
        remembered_for_s: float = 600.0,
        gap: int = 3,
    ) -> None:
        self._client = client
        self._args = (remembered, round(remembered_for_s * 1000), gap, run, round(cooldown_s * 1000))
        self._breaker = CircuitBreaker("abuse_enumeration")

    async def check(self, address: str, product_id: str) -> Enumeration:
        if not self._breaker.allow():  # Redis known down: no connect timeout per product page
            return NOT_BLOCKED
        found = _TRAILING_NUMBER.search(product_id)
        keys = [f"{ENUMERATION_KEY_PREFIX}:block:{address}", f"{ENUMERATION_KEY_PREFIX}:recent:{address}"]
        try:
            blocked, remaining_ms, started = await self._client.script(
                ENUMERATION, keys, [found.group(1) if found else "", *self._args]
            )
        except (RedisUnavailableError, RespError) as exc:
            self._breaker.record_failure()
            log.warning("product pages unguarded: Redis did not answer", extra={"error": str(exc)})
            return NOT_BLOCKED
        self._breaker.record_success()
        if not blocked:
            return NOT_BLOCKED
        return Enumeration(blocked=True, retry_after_s=remaining_ms / 1000, started=bool(started))


class AbuseProtection:
    def __init__(
        self, access: AccessLists, audit: AuditLog, enumeration: EnumerationGuard | None = None
    ) -> None:
        self.access = access
        self.audit = audit
        self.enumeration = enumeration
        self._recorded: Lru[tuple[str, str], float] = Lru(10_000)
        self._audit_queue: queue.Queue[tuple[str, str, str]] = queue.Queue(maxsize=AUDIT_QUEUE)
        self._writer: threading.Thread | None = None

    def decide(self, address: str) -> Match | None:
        return self.access.decide(address)

    async def blocked(
        self,
        reason: str,
        client: str,
        key_id: str | None,
        detail: str = "",
        first: bool | None = None,
        episode: str | None = None,
    ) -> None:
        """Count a block; log and audit it when it is the first of its episode: `first`, when the
        shared state knows, else the first in a minute in this worker of `episode` (default: the
        client; for a deny list, the denied network, so a botnet in it is one episode). The audit
        entry is written by a thread of its own: a flood of blocks never waits on the audit index."""
        ABUSE_BLOCKS.labels(reason).inc()
        if first is not None:
            if not first:
                return
        else:
            now = time.monotonic()
            key = (reason, episode or client)
            last = self._recorded.get(key)
            if last is not None and now - last < RECORD_EVERY_S:
                return
            self._recorded.put(key, now)
        log.warning(
            "request blocked", extra={"reason": reason, "client": client, "key_id": key_id, "detail": detail}
        )
        self._enqueue(f"block:{reason}", client, f"key {key_id}; {detail}")

    def _enqueue(self, action: str, client: str, detail: str) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._write_audit, name="abuse-audit", daemon=True)
            self._writer.start()
        try:
            self._audit_queue.put_nowait((action, client, detail))
        except queue.Full:
            log.error(
                "audit entry of a block dropped: the audit queue is full",
                extra={"action": action, "client": client},
            )

    def _write_audit(self) -> None:
        while True:
            action, client, detail = self._audit_queue.get()
            try:
                self.audit.record(SYSTEM_ACTOR, action, client, client, detail)
            except Exception as exc:  # the writer must outlive any one entry
                log.error("audit entry of a block not written", extra={"error": str(exc)})
            finally:
                self._audit_queue.task_done()

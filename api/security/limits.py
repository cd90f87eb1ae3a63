"""Rate limits on the routes that say `rate_limit` in their `opt` (search, recommend): one window per
client address and one per API key, checked together in one Redis call (quarry/rate_limits.py).

The client address is the peer's, or what `X-Forwarded-For` says when the peer is a trusted proxy
(QUARRY_TRUSTED_PROXIES): uvicorn resolves it before the request reaches the app (api/__main__.py),
so a client cannot pick its own address by sending the header.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException

from api.security.auth import Caller
from quarry.rate_limits import RateLimiter, Verdict, Window, window_key
from quarry.settings import Settings

STATE_KEY = "rate_limit"
KEY_READS_PER_MINUTE = 60
"""Store reads of keys a worker has not seen, per client address: a browser or backend needs one per
key and worker every 10 s; a client trying made-up keys needs one per guess."""


class Limits(msgspec.Struct, frozen=True):
    """Per minute, by client address (with a burst) and by key (a key's own figure wins)."""

    ip_per_minute: int
    ip_burst: int
    key_per_minute: int


class RateLimitPolicy:
    def __init__(self, limiter: RateLimiter, limits: dict[str, Limits], minute_s: float = 60.0) -> None:
        self.limiter = limiter
        self._limits = limits
        self._minute_s = minute_s
        self._key_windows: dict[tuple[str, str, int], Window] = {}

    @classmethod
    def from_settings(cls, limiter: RateLimiter, settings: Settings) -> RateLimitPolicy:
        return cls(
            limiter,
            {
                "search": Limits(
                    settings.rate_limit_ip_search_per_minute,
                    settings.rate_limit_ip_search_burst,
                    settings.rate_limit_key_search_per_minute,
                ),
                "recommend": Limits(
                    settings.rate_limit_ip_recommend_per_minute,
                    settings.rate_limit_ip_recommend_burst,
                    settings.rate_limit_key_recommend_per_minute,
                ),
                "key_reads": Limits(KEY_READS_PER_MINUTE, KEY_READS_PER_MINUTE, KEY_READS_PER_MINUTE),
            },
            settings.rate_limit_minute_s,
        )

    def _key_window(self, limited: str, key_id: str, per_minute: int) -> Window:
        """A key's window, made once per key and figure (keys are few; addresses are many)."""
        cached = self._key_windows.get((limited, key_id, per_minute))
        if cached is None:
            if len(self._key_windows) > 10_000:
                self._key_windows.clear()
            cached = Window.of(window_key(limited, "key", key_id), per_minute, minute_s=self._minute_s)
            self._key_windows[(limited, key_id, per_minute)] = cached
        return cached

    def windows(self, limited: str, address: str, caller: Caller) -> list[Window]:
        """The address's window, unless the key is a backend's (`server`: one address, many
        shoppers), and the key's."""
        limits = self._limits[limited]
        windows = []
        if caller.key_id is None or not caller.may("server"):
            windows.append(
                Window.of(
                    window_key(limited, "ip", address), limits.ip_per_minute, limits.ip_burst, self._minute_s
                )
            )
        if caller.key_id is not None:
            own = caller.search_per_minute if limited == "search" else caller.recommend_per_minute
            windows.append(self._key_window(limited, caller.key_id, own or limits.key_per_minute))
        return windows

    async def check(
        self, connection: ASGIConnection[Any, Any, Any, Any], limited: str, caller: Caller
    ) -> None:
        """Counts the request; a refusal is a 429 with Retry-After. The verdict stays on the request
        for the RateLimit-* headers of whatever response follows."""
        client = connection.scope.get("client")
        address = subject_address(client[0]) if client else "unknown"
        verdict = await self.limiter.hit(self.windows(limited, address, caller), limited)
        connection.scope["state"][STATE_KEY] = verdict
        if not verdict.allowed:
            raise TooManyRequestsException(
                f"too many {limited} requests; retry in {verdict.retry_after_header()} s",
                headers={"Retry-After": verdict.retry_after_header()},
            )


def subject_address(address: str) -> str:
    """Whose window a request counts in: the address, or for IPv6 its /64 (one subscriber commonly
    holds a whole /64, and would otherwise have 2^64 windows)."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address) + "/64"
    except ValueError:
        return address


def rate_limit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(verdict.reset_s)).encode()),
    ]

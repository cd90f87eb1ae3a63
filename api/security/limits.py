"""Rate limits on the routes that say `rate_limit` in their `opt` (search, recommend): one window per
client address (api/security/clients.py) and one per API key, and for a search one per address and
query text, checked together in one Redis call (quarry/rate_limits.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException

from api.security.auth import Caller, gate_of
from api.security.clients import ACCESS_STATE_KEY, client_address, subject_address
from quarry.rate_limits import RateLimiter, Verdict, Window, window_key
from quarry.settings import Settings

STATE_KEY = "rate_limit"
REPEATED_QUERY = "repeated_query"
KEY_READS_PER_MINUTE = 60
"""Store reads of keys a worker has not seen, per client address: a browser or backend needs one per
key and worker every 10 s; a client trying made-up keys needs one per guess."""


REQUEST_WINDOWS_KEPT = 4096
"""Requests whose windows a worker remembers (by client, request line and key): past it, all are
forgotten and worked out again."""


class Limits(msgspec.Struct, frozen=True):
    """Per minute, by client address (with a burst) and by key (a key's own figure wins)."""

    ip_per_minute: int
    ip_burst: int
    key_per_minute: int


class RateLimitPolicy:
    def __init__(
        self,
        limiter: RateLimiter,
        limits: dict[str, Limits],
        minute_s: float = 60.0,
        same_query_per_minute: int | None = None,
    ) -> None:
        self.limiter = limiter
        self._limits = limits
        self._minute_s = minute_s
        self._same_query = same_query_per_minute
        self._key_windows: dict[tuple[str, str, int], Window] = {}
        self._request_windows: dict[tuple[Any, ...], tuple[Window, ...]] = {}
        # What every address's window of a kind looks like (its key aside), worked out once: a
        # window is made per request. Window.of checks that the address's search window lasts at
        # least as long as the query windows it covers.
        templates = {
            limited: Window.of("", rule.ip_per_minute, rule.ip_burst, minute_s, label=limited)
            for limited, rule in limits.items()
        }
        self._address_shapes = {limited: _shape(template) for limited, template in templates.items()}
        self._query_shape = (
            _shape(
                Window.of(
                    "",
                    same_query_per_minute,
                    minute_s=minute_s,
                    label=REPEATED_QUERY,
                    shown=False,
                    cover=templates["search"],
                )
            )
            if same_query_per_minute is not None
            else None
        )

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
            settings.abuse_same_query_per_minute,
        )

    def _key_window(self, limited: str, key_id: str, per_minute: int) -> Window:
        """A key's window, made once per key and figure (keys are few; addresses are many)."""
        cached = self._key_windows.get((limited, key_id, per_minute))
        if cached is None:
            if len(self._key_windows) > 10_000:
                self._key_windows.clear()
            cached = Window.of(
                window_key(limited, "key", key_id), per_minute, minute_s=self._minute_s, label=limited
            )
            self._key_windows[(limited, key_id, per_minute)] = cached
        return cached

    def windows(
        self,
        limited: str,
        address: str,
        caller: Caller,
        query: str | None = None,
        allowlisted: bool = False,
    ) -> list[Window]:
        """The address's window, unless the key is a backend's (`server`: one address, many
        shoppers) or the address is allow-listed, and the key's. A search also counts in the
        address's window of its query text (abuse protection: the same query over and over)."""
        windows = []
        # Guessed keys are limited per address whoever guesses: an allowed address is trusted with
        # searches, not with trying keys.
        per_address = limited == "key_reads" or (not caller.is_backend and not allowlisted)
        if per_address:
            shape = self._address_shapes[limited]
            by_address = Window(window_key(limited, "ip", address), *shape)
            windows.append(by_address)
            if query is not None and self._query_shape is not None:
                # Every search of the text is one of the address's (which lasts at least a minute):
                # a worker that has not seen this text lately can go by the address's count.
                windows.append(
                    Window(
                        window_key(REPEATED_QUERY, "ip", f"{address}:{query}"),
                        *self._query_shape,
                        cover=by_address.key,
                    )
                )
        if caller.key_id is not None:
            own = caller.search_per_minute if limited == "search" else caller.recommend_per_minute
            windows.append(
                self._key_window(limited, caller.key_id, own or self._limits[limited].key_per_minute)
            )
        return windows

    def _windows_of(
        self, connection: ASGIConnection[Any, Any, Any, Any], limited: str, caller: Caller
    ) -> tuple[Window, ...]:
        """The request's windows, worked out once per client, request line and key: a client
        repeating a search (what a cached search is) costs one dict lookup here instead of an
        address, a fingerprint and three windows (docs/security.md#cost). Bounded: cleared when
        full, like the key windows. A tuple: requests share it."""
        scope = connection.scope
        client = scope.get("client")
        allowlisted = scope["state"].get(ACCESS_STATE_KEY) == "allow"
        memo_key = (
            limited,
            client[0] if client else "",
            scope["query_string"] if limited == "search" else b"",
            allowlisted,
            caller.key_id,
            caller.is_backend,
            caller.search_per_minute if limited == "search" else caller.recommend_per_minute,
        )
        known = self._request_windows.get(memo_key)
        if known is not None:
            return known
        address = subject_address(client_address(connection))
        query = query_fingerprint(connection.query_params.multi_items()) if limited == "search" else None
        known = tuple(self.windows(limited, address, caller, query, allowlisted))
        if len(self._request_windows) >= REQUEST_WINDOWS_KEPT:
            self._request_windows.clear()
        self._request_windows[memo_key] = known
        return known

    def admit_early(
        self, connection: ASGIConnection[Any, Any, Any, Any], limited: str, caller: Caller
    ) -> tuple[Window, ...] | None:
        """Counts the request when it is far from its limits (the common case, no await); otherwise
        the windows `check` must wait for Redis on."""
        windows = self._windows_of(connection, limited, caller)
        if not windows:  # an allowed address without a key (authentication off): nothing to count
            return None
        verdict = self.limiter.admit_early(windows)
        if verdict is None:
            return windows
        connection.scope["state"][STATE_KEY] = verdict
        return None

    async def check(
        self,
        connection: ASGIConnection[Any, Any, Any, Any],
        limited: str,
        caller: Caller,
        waiting: tuple[Window, ...] | None = None,
    ) -> None:
        """Counts the request; a refusal is a 429 with Retry-After. The verdict stays on the request
        for the RateLimit-* headers of whatever response follows. `waiting`: the windows
        `admit_early` could not admit on (Redis decides, without a second early try)."""
        if waiting is None:
            windows = self._windows_of(connection, limited, caller)
            if not windows:  # an allowed address without a key (authentication off): nothing to count
                return
            verdict = await self.limiter.hit(windows, limited)
        else:
            verdict = await self.limiter.exact(waiting, limited)
        connection.scope["state"][STATE_KEY] = verdict
        if not verdict.allowed:
            retry = verdict.retry_after_header()
            if verdict.refused_by == REPEATED_QUERY:
                blocks = gate_of(connection).abuse
                if blocks is not None:
                    address = subject_address(client_address(connection))
                    await blocks.blocked(REPEATED_QUERY, address, caller.key_id, f"retry in {retry} s")
                raise TooManyRequestsException(
                    f"the same search more than {self._same_query} times a minute from this client; "
                    f"retry in {retry} s",
                    headers={"Retry-After": retry},
                )
            raise TooManyRequestsException(
                f"too many {limited} requests; retry in {retry} s", headers={"Retry-After": retry}
            )


def _shape(window: Window) -> tuple[int, int, str, bool]:
    return (window.capacity, window.window_ms, window.label, window.shown)


NOT_PART_OF_A_QUERY = frozenset(
    {"query_id", "client_id", "session_id", "user_id", "application", "query_attributes", "explain"}
)
"""Parameters that differ between repeats of one search (ids a client makes per request)."""


def query_fingerprint(params: Iterable[tuple[str, str]]) -> str | None:
    """What makes two searches the same for the repeated-query window: the search text (case and
    spacing folded) with the page, sort and filters, hashed into a bounded Redis key; None without a
    text. `params` are the request's query parameters as the handler reads them (Litestar parses
    them once per request, for both), so the last `q` counts and names are decoded. A shopper
    refining a search (a facet, the next page) makes a new one; a client resending one does not."""
    text = ""
    rest = []
    for name, value in params:
        if name == "q":
            text = value
        elif name not in NOT_PART_OF_A_QUERY:
            rest.append(f"{name}\x00{value}")
    text = " ".join(text.casefold().split())
    if not text:
        return None
    rest.sort()
    rest.append(text)
    return hashlib.blake2b("\x01".join(rest).encode(), digest_size=8).hexdigest()


def rate_limit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(verdict.reset_s)).encode()),
    ]

"""The Redis result cache. Keys cover everything that changes a page (normalized query, filters,
sort, page, size, ranking version, catalog version, user); values are msgpack. Redis trouble never
fails a search: failures trip a circuit breaker and the cache is skipped while it is open."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict

import msgspec

from quarry.adapters.cache import CacheError, CircuitOpenError, GuardedStore
from quarry.metrics import CACHE_LOOKUPS
from quarry.redis_keys import search_page_key
from quarry.search.schemas import CachedPage, SearchRequest
from quarry.tracing import span

log = logging.getLogger("api.cache")
SESSION_TTL_S = 30


class CacheKey(msgspec.Struct, frozen=True):
    """A page's Redis key, and whether the page belongs to one session (then it lives briefly and
    never in process memory: a session's tastes move with every click)."""

    value: str
    session_scoped: bool


def cache_key(
    request: SearchRequest, normalized: str, ranking_version: str, catalog_version: str
) -> CacheKey:
    identity = msgspec.msgpack.encode(
        [
            normalized,
            request.category,
            sorted(b.lower() for b in request.brand),
            request.price_min,
            request.price_max,
            request.rating_min,
            request.in_stock,
            sorted(request.attributes),
            request.sort,
            request.page,
            request.size,
            request.explain,
            request.fixed,
            ranking_version,
            catalog_version,
        ]
    )
    # Pages personalized by a session's recent engagement belong to that session alone. Only relevance
    # order reads the session (explicit sorts ignore it), so other sorts share the user's pages.
    user = request.user_id if request.personalize else None
    by_session = request.personalize and request.session_id is not None and request.sort == "relevance"
    digest = hashlib.sha1(identity, usedforsecurity=False).hexdigest()
    return CacheKey(search_page_key(digest, user, request.session_id if by_session else None), by_session)


class LocalPages:
    """A small per-process LRU in front of Redis for the hottest pages: a hit costs no network round
    trip. Entries live `ttl_s` seconds, short enough that every process sees a reindex (new catalog
    version, new keys anyway) or a ranking change within moments."""

    def __init__(self, capacity: int, ttl_s: float) -> None:
        self._capacity = capacity
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, CachedPage]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedPage | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, page: CachedPage) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self._ttl_s, page)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


class SearchCache:
    def __init__(self, store: GuardedStore, ttl_s: int = 300, local: LocalPages | None = None) -> None:
        """`store`: breaker-guarded, and the breaker's state is what `bypassed` reports."""
        self._store = store
        self._breaker = store.breaker
        self._ttl_s = ttl_s
        self._local = local or LocalPages(capacity=0, ttl_s=0)
        self._decoder = msgspec.msgpack.Decoder(CachedPage)
        self._encoder = msgspec.msgpack.Encoder()

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    @property
    def bypassed(self) -> bool:
        return self.enabled and self._breaker.is_open

    def _local_page(self, key: CacheKey) -> CachedPage | None:
        return self._local.get(key.value) if self.enabled and not key.session_scoped else None

    def get_local(self, key: CacheKey) -> CachedPage | None:
        """The event-loop fast path. Only its hits are counted: a miss goes on to `get`, which
        counts the local lookup once."""
        with span("cache.lookup", {"quarry.cache.layer": "local"}) as lookup:
            page = self._local_page(key)
            lookup.set_attribute("quarry.cache.hit", page is not None)
        if page is not None:
            CACHE_LOOKUPS.labels("local", "hit").inc()
        return page

    def get(self, key: CacheKey) -> CachedPage | None:
        if not self.enabled:
            return None
        with span("cache.lookup", {"quarry.cache.layer": "local+redis"}) as lookup:
            page = self._lookup(key)
            lookup.set_attribute("quarry.cache.hit", page is not None)
        return page

    def _lookup(self, key: CacheKey) -> CachedPage | None:
        local = self._local_page(key)
        if not key.session_scoped:
            CACHE_LOOKUPS.labels("local", "hit" if local is not None else "miss").inc()
        if local is not None:
            return local
        try:
            raw = self._store.get(key.value)
        except CircuitOpenError:
            return None
        except CacheError as exc:
            CACHE_LOOKUPS.labels("redis", "error").inc()
            log.warning("result cache read failed", extra={"error": str(exc), "circuit": self._breaker.state})
            return None
        CACHE_LOOKUPS.labels("redis", "hit" if raw is not None else "miss").inc()
        if raw is None:
            return None
        try:
            page = self._decoder.decode(raw)
        except msgspec.DecodeError:
            return None  # an entry from an older schema: a miss, overwritten below
        self._put_local(key, page)
        return page

    def _put_local(self, key: CacheKey, page: CachedPage) -> None:
        if not key.session_scoped:
            self._local.put(key.value, page)

    def put(self, key: CacheKey, page: CachedPage) -> None:
        if not self.enabled:
            return
        with span("cache.store"):
            self._store_page(key, page)

    def _store_page(self, key: CacheKey, page: CachedPage) -> None:
        self._put_local(key, page)
        try:
            ttl = min(self._ttl_s, SESSION_TTL_S) if key.session_scoped else self._ttl_s
            self._store.set(key.value, self._encoder.encode(page), ttl_s=ttl)
        except CircuitOpenError:
            return
        except CacheError as exc:
            log.warning(
                "result cache write failed", extra={"error": str(exc), "circuit": self._breaker.state}
            )

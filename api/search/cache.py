"""The Redis result cache. Keys cover everything that changes a page (normalized query, filters,
sort, page, size, ranking version, catalog version, user); values are msgpack. Redis trouble never
fails a search: failures trip a circuit breaker and the cache is skipped while it is open."""

from __future__ import annotations

import hashlib
import logging

import msgspec

from api.search.schemas import CachedPage, SearchRequest
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.circuit import CircuitBreaker

log = logging.getLogger("api.cache")


def cache_key(request: SearchRequest, normalized: str, ranking_version: str, catalog_version: str) -> str:
    identity = msgspec.msgpack.encode(
        [
            normalized,
            request.category,
            sorted(b.lower() for b in request.brand),
            request.price_min,
            request.price_max,
            request.in_stock,
            sorted(request.attributes),
            request.sort,
            request.page,
            request.size,
            request.explain,
            ranking_version,
            catalog_version,
        ]
    )
    return f"search:{hashlib.sha1(identity).hexdigest()}:{request.user_id or 'anon'}"


class SearchCache:
    def __init__(self, store: KeyValueStore, breaker: CircuitBreaker, ttl_s: int = 300) -> None:
        self._store = store
        self._breaker = breaker
        self._ttl_s = ttl_s
        self._decoder = msgspec.msgpack.Decoder(CachedPage)
        self._encoder = msgspec.msgpack.Encoder()

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    @property
    def bypassed(self) -> bool:
        return self.enabled and not self._breaker.allow()

    def get(self, key: str) -> CachedPage | None:
        if not self.enabled or not self._breaker.allow():
            return None
        try:
            raw = self._store.get(key)
        except CacheError as exc:
            self._breaker.record_failure()
            log.warning("result cache read failed", extra={"error": str(exc), "circuit": self._breaker.state})
            return None
        self._breaker.record_success()
        if raw is None:
            return None
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:
            return None  # an entry from an older schema: a miss, overwritten below

    def put(self, key: str, page: CachedPage) -> None:
        if not self.enabled or not self._breaker.allow():
            return
        try:
            self._store.set(key, self._encoder.encode(page), ttl_s=self._ttl_s)
        except CacheError as exc:
            self._breaker.record_failure()
            log.warning(
                "result cache write failed", extra={"error": str(exc), "circuit": self._breaker.state}
            )
            return
        self._breaker.record_success()

from __future__ import annotations

import time

from api.health.schemas import DependencyCheck, Readiness
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import SearchEngine, SearchEngineError


class HealthService:
    def __init__(self, engine: SearchEngine, store: KeyValueStore, products_alias: str) -> None:
        self.engine = engine
        self.store = store
        self.products_alias = products_alias

    def _opensearch(self) -> DependencyCheck:
        started = time.perf_counter()
        try:
            health = self.engine.health()
            targets = self.engine.alias_targets(self.products_alias)
        except SearchEngineError as exc:
            return DependencyCheck("opensearch", False, _ms(started), f"unreachable: {exc}")
        if not targets:
            return DependencyCheck(
                "opensearch", False, _ms(started), f"alias {self.products_alias!r} is missing"
            )
        detail = f"cluster {health.status}; {self.products_alias} -> {', '.join(targets)}"
        return DependencyCheck("opensearch", health.status != "red", _ms(started), detail)

    def _redis(self) -> DependencyCheck:
        started = time.perf_counter()
        try:
            ok = self.store.ping()
        except CacheError as exc:
            return DependencyCheck("redis", False, _ms(started), str(exc))
        return DependencyCheck("redis", ok, _ms(started), "PONG" if ok else "no answer")

    def readiness(self) -> Readiness:
        opensearch, redis = self._opensearch(), self._redis()
        degraded = [] if redis.ok else ["redis"]
        ready = opensearch.ok
        status = "not_ready" if not ready else ("degraded" if degraded else "ready")
        return Readiness(status=status, ready=ready, degraded=degraded, checks=[opensearch, redis])


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

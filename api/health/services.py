from __future__ import annotations

import time

from api.health.schemas import DependencyCheck, Readiness
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import SearchEngine, SearchEngineError

# A cluster that drops packets would otherwise hold the probe for the client's whole timeout (30 s)
# until its circuit opens, and a probe that slow reads as not ready.
UBI_PROBE_TIMEOUT_S = 1.0


class HealthService:
    def __init__(
        self,
        engine: SearchEngine,
        store: KeyValueStore,
        products_alias: str,
        ubi_engine: SearchEngine | None = None,
    ) -> None:
        """`ubi_engine`: the analytics cluster, when the UBI logs have their own (checked, not required)."""
        self.engine = engine
        self.store = store
        self.products_alias = products_alias
        self.ubi_engine = ubi_engine

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

    def _ubi_opensearch(self, engine: SearchEngine) -> DependencyCheck:
        """Searches do not need the analytics cluster; while it is away the query log's writes are
        counted as failed and events are answered 503, so readiness only reports it."""
        started = time.perf_counter()
        try:
            health = engine.health(timeout_s=UBI_PROBE_TIMEOUT_S)
        except SearchEngineError as exc:
            return DependencyCheck("ubi_opensearch", False, _ms(started), f"unreachable: {exc}")
        return DependencyCheck(
            "ubi_opensearch", health.status != "red", _ms(started), f"cluster {health.status}"
        )

    def readiness(self) -> Readiness:
        checks = [self._opensearch(), self._redis()]
        if self.ubi_engine is not None:
            checks.append(self._ubi_opensearch(self.ubi_engine))
        degraded = [check.name for check in checks[1:] if not check.ok]
        ready = checks[0].ok
        status = "not_ready" if not ready else ("degraded" if degraded else "ready")
        return Readiness(status=status, ready=ready, degraded=degraded, checks=checks)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

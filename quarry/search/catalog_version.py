"""The physical index behind the catalog alias: part of every result-cache key."""

from __future__ import annotations

import logging
import time

from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.tracing import span

log = logging.getLogger("api.search")

CATALOG_VERSION_TTL_S = 5.0


class CatalogVersion:
    """The physical index behind the alias, cached for a few seconds: part of every cache key, so a
    reindex or rollback makes old cache entries unreachable."""

    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self._engine = engine
        self._alias = alias
        self._value = ""
        self._fetched_at = float("-inf")

    def peek(self) -> str | None:
        """The cached value while it is fresh, else None (never calls OpenSearch)."""
        return self._value if time.monotonic() - self._fetched_at < CATALOG_VERSION_TTL_S else None

    def get(self) -> str:
        """While OpenSearch is unreachable the last known version is kept, so cached pages are still
        answered (they were built on that version); with none known yet the error propagates."""
        if time.monotonic() - self._fetched_at >= CATALOG_VERSION_TTL_S:
            try:
                with span("catalog.version", one_call=True):
                    self._value = ",".join(self._engine.alias_targets(self._alias)) or self._alias
            except SearchEngineError as exc:
                if not self._value:
                    raise
                log.warning(
                    "catalog version unavailable; keeping the last one for cached pages",
                    extra={"catalog_version": self._value, "error": str(exc)},
                )
            self._fetched_at = time.monotonic()
        return self._value

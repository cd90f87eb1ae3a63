"""Warm the result cache at start-up with the most frequent logged queries, in the background, so a
fresh process (deploy, restart) does not send its first minutes of head traffic to OpenSearch."""

from __future__ import annotations

import logging
import threading

from quarry.adapters.search_engine import SearchEngine
from quarry.search.service import SearchService
from quarry.ubi import successful_queries

log = logging.getLogger("api.warmup")


class CacheWarmup:
    """The start-up warm-up thread, stopped with the app: a process shutting down (a deploy, a
    test's app) must not go on searching through clients it has already closed."""

    def __init__(self, service: SearchService, ubi_engine: SearchEngine, limit: int) -> None:
        """`ubi_engine`: the cluster holding `ubi_queries`, which need not be the one that searches."""
        self._service = service
        self._ubi_engine = ubi_engine
        self._limit = limit
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cache-warmup", daemon=True)

    def start(self) -> CacheWarmup:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Skip the queries not warmed yet and wait for the one in flight."""
        self._stopping.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        queries = list(successful_queries(self._ubi_engine, self._limit))
        warmed = self._service.warm(queries, self._stopping)
        if not self._stopping.is_set():
            log.info("result cache warmed", extra={"queries": len(queries), "computed": warmed})

"""Warm the result cache at start-up with the most frequent logged queries, in the background, so a
fresh process (deploy, restart) does not send its first minutes of head traffic to OpenSearch."""

from __future__ import annotations

import logging
import threading

from quarry.adapters.search_engine import SearchEngine
from quarry.search.service import SearchService
from quarry.ubi import successful_queries

log = logging.getLogger("api.warmup")


def warm_in_background(service: SearchService, ubi_engine: SearchEngine, limit: int) -> threading.Thread:
    """`ubi_engine`: the cluster holding `ubi_queries`, which need not be the one that searches."""

    def run() -> None:
        queries = list(successful_queries(ubi_engine, limit))
        warmed = service.warm(queries)
        log.info("result cache warmed", extra={"queries": len(queries), "computed": warmed})

    thread = threading.Thread(target=run, name="cache-warmup", daemon=True)
    thread.start()
    return thread

"""Warm the result cache at start-up with the most frequent logged queries, in the background, so a
fresh process (deploy, restart) does not send its first minutes of head traffic to OpenSearch."""

from __future__ import annotations

import logging
import threading

from api.search.services import SearchService
from quarry.adapters.search_engine import SearchEngine, SearchEngineError

log = logging.getLogger("api.warmup")


def frequent_queries(engine: SearchEngine, limit: int) -> list[str]:
    try:
        response = engine.search(
            "ubi_queries",
            {
                "size": 0,
                # Real shoppers only: evaluation and benchmark traffic says who it is.
                "query": {
                    "bool": {
                        "filter": [{"exists": {"field": "query_response_hit_ids"}}],
                        "must_not": [{"prefix": {"user_id": "quarry-"}}],
                    }
                },
                "aggs": {"q": {"terms": {"field": "user_query", "size": limit}}},
            },
        )
    except SearchEngineError:
        return []
    return [str(b["key"]) for b in response.aggregations.get("q", {}).get("buckets", [])]


def warm_in_background(service: SearchService, limit: int) -> threading.Thread:
    def run() -> None:
        queries = frequent_queries(service.engine, limit)
        warmed = service.warm(queries)
        log.info("result cache warmed", extra={"queries": len(queries), "computed": warmed})

    thread = threading.Thread(target=run, name="cache-warmup", daemon=True)
    thread.start()
    return thread

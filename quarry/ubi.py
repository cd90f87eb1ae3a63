"""The User Behavior Insights stores (`ubi_queries`, `ubi_events`): creating them and reading back
what shoppers searched for."""

from __future__ import annotations

import json
from pathlib import Path

from quarry.adapters.search_engine import SearchEngine, SearchEngineError

UBI_QUERIES = "ubi_queries"
UBI_EVENTS = "ubi_events"
UBI_INDICES = (UBI_QUERIES, UBI_EVENTS)
# Evaluation, benchmark and other synthetic traffic logs under user ids with this prefix.
SYNTHETIC_USER_PREFIX = "quarry-"


def ensure_ubi_indices(engine: SearchEngine, mappings_dir: str | Path) -> list[str]:
    created = []
    for name in UBI_INDICES:
        if not engine.index_exists(name):
            engine.create_index(name, json.loads((Path(mappings_dir) / f"{name}.json").read_text()))
            created.append(name)
    return created


def successful_queries(engine: SearchEngine, limit: int) -> dict[str, int]:
    """Logged shopper queries that returned at least one product, most frequent first."""
    try:
        response = engine.search(
            UBI_QUERIES,
            {
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [{"exists": {"field": "query_response_hit_ids"}}],
                        "must_not": [{"prefix": {"user_id": SYNTHETIC_USER_PREFIX}}],
                    }
                },
                "aggs": {"q": {"terms": {"field": "user_query", "size": limit}}},
            },
        )
    except SearchEngineError:
        return {}
    return {str(b["key"]): int(b["doc_count"]) for b in response.aggregations.get("q", {}).get("buckets", [])}

"""Feature replay (docs/ltr.md#replay): log LTR features for searches that happened before feature
logging did, so a first model has examples. Each past search that shoppers saw (it has impression
events; its record in `ubi_queries` gives the query and shopper) is run again through
the search core as its shopper ran it (same pseudonymous user and session, for the personal
features) and logged under its own `query_id` with `source: replay`.

A replay computes features with today's catalog, models and ranking, not those of the day of the
search: a bootstrap, marked as such, which live logging replaces as it accumulates."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.ltr.feature_log import INDEX_PREFIX, FeatureLog
from quarry.search.schemas import SearchRequest
from quarry.ubi import UBI_EVENTS, UBI_QUERIES

log = logging.getLogger("pipelines.ltr")


class PastSearch(msgspec.Struct, frozen=True):
    query_id: str
    user_query: str
    user_id: str | None = None
    session_id: str | None = None


class ReplaySummary(msgspec.Struct, frozen=True):
    searches: int
    replayed: int
    already_logged: int
    failed: int
    records: int


def past_searches(engine: SearchEngine, since: dt.datetime, limit: int) -> Iterator[PastSearch]:
    """The newest `limit` searches since `since` that shoppers saw (they have impression events:
    only those can become click judgments), newest first."""
    seen = {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"action_name": "impression"}},
                    {"range": {"timestamp": {"gte": since.isoformat()}}},
                ]
            }
        },
        "aggs": {
            "searches": {
                "terms": {"field": "query_id", "size": limit, "order": {"last": "desc"}},
                "aggs": {"last": {"max": {"field": "timestamp"}}},
            }
        },
    }
    buckets = engine.search(UBI_EVENTS, seen).aggregations.get("searches", {}).get("buckets", [])
    ids = [str(b["key"]) for b in buckets]
    if not ids:
        return
    body = {
        "size": len(ids),
        "_source": ["query_id", "user_query", "user_id", "session_id"],
        "query": {"terms": {"query_id": ids}},
    }
    found = {h.source.get("query_id"): h.source for h in engine.search(UBI_QUERIES, body).hits}
    for query_id in ids:  # newest first, as the events ordered them
        source = found.get(query_id)
        if source and source.get("user_query"):
            yield msgspec.convert(source, PastSearch)


def logged_query_ids(engine: SearchEngine, query_ids: list[str], featureset: str) -> set[str]:
    """The searches among `query_ids` logged with this feature set already."""
    if not query_ids or not engine.index_exists(f"{INDEX_PREFIX}-*"):
        return set()
    body = {
        "size": 0,
        "query": {
            "bool": {"filter": [{"terms": {"query_id": query_ids}}, {"term": {"featureset": featureset}}]}
        },
        "aggs": {"ids": {"terms": {"field": "query_id", "size": len(query_ids)}}},
    }
    buckets = engine.search(f"{INDEX_PREFIX}-*", body).aggregations.get("ids", {}).get("buckets", [])
    return {str(b["key"]) for b in buckets}


def replay(
    feature_log: FeatureLog, records_engine: SearchEngine, searches: list[PastSearch]
) -> ReplaySummary:
    """Replay every search not logged yet; a search that fails is counted and skipped."""
    from tqdm import tqdm

    done = logged_query_ids(records_engine, [s.query_id for s in searches], feature_log.featureset)
    replayed = failed = written = 0
    for search in tqdm(searches, desc="replay", unit="search"):
        if search.query_id in done:
            continue
        request = SearchRequest(q=search.user_query, user_id=search.user_id, session_id=search.session_id)
        try:
            written += feature_log.log_now(request, search.query_id, source="replay")
            replayed += 1
        except (
            Exception
        ) as exc:  # one bad search (a query the understanding now refuses) is no reason to stop
            failed += 1
            log.warning("search not replayed", extra={"query_id": search.query_id, "error": repr(exc)})
    return ReplaySummary(len(searches), replayed, len(done), failed, written)

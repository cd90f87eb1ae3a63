"""What a logged search's shopper typed, for events that name the search by its `query_id`: click
models (the Search Relevance Workbench's COEC among them) group events by the `user_query` on the
event itself, and ubi.js sends none."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.lru import Lru
from quarry.ubi import logged_user_queries

log = logging.getLogger("api.ubi")

RECENT_QUERIES = 100_000


class LoggedQueries:
    """The searches this process logged recently are remembered as they are logged (no I/O); the
    others (logged by another worker or instance) are read from `ubi_queries` with one multi-get per
    batch, which OpenSearch answers from its translog, so a search logged a moment ago is found once
    its record has left the writer's buffer (a quarter of a second)."""

    def __init__(self, engine: SearchEngine, capacity: int = RECENT_QUERIES) -> None:
        self._engine = engine
        self._recent: Lru[str, str] = Lru(capacity)

    def remember(self, query_id: str, user_query: str) -> None:
        self._recent.put(query_id, user_query)

    def texts(self, query_ids: Iterable[str]) -> dict[str, str]:
        """`user_query` for each id whose search is logged; ids not (yet) logged are left out."""
        found: dict[str, str] = {}
        missing = []
        for query_id in set(query_ids):
            text = self._recent.get(query_id)
            if text is None:
                missing.append(query_id)
            else:
                found[query_id] = text
        if missing:
            found.update(self._read(missing))
        return found

    def _read(self, query_ids: list[str]) -> dict[str, str]:
        try:
            read = logged_user_queries(self._engine, query_ids)
        except SearchEngineError as exc:
            if exc.status != 404:  # 404: no query has been logged yet
                log.warning("logged queries not read", extra={"queries": len(query_ids), "error": str(exc)})
            return {}
        for query_id, text in read.items():
            self._recent.put(query_id, text)
        return read

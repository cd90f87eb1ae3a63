"""The User Behavior Insights stores (`ubi_queries`, `ubi_events`): creating them and reading back
what shoppers searched for."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from pathlib import Path
from typing import Any

from quarry.adapters.search_engine import SearchEngine, SearchEngineError, index_action
from quarry.records import delete_by_query
from quarry.text import normalize
from quarry.ubi_migrations import (
    existing_event_mapping,
    migrate_event_ordinals,
    migrate_queries_index,
    read_mappings,
    update_event_mapping,
)

log = logging.getLogger("quarry.ubi")

UBI_QUERIES = "ubi_queries"
UBI_EVENTS = "ubi_events"
UBI_INDICES = (UBI_QUERIES, UBI_EVENTS)
# A client-supplied query id names one search for this long (a retry of that search may reuse it;
# another search may not: its query record would overwrite the first one's).
CLIENT_QUERY_ID_TTL_S = 24 * 3600


def client_query_key(query_id: str) -> str:
    """The Redis key that claims a client-supplied query id for the search that first used it."""
    return f"ubi:query_id:{query_id}"


# Evaluation, benchmark and other synthetic traffic logs under user ids with this prefix.
SYNTHETIC_USER_PREFIX = "quarry-"


EVENTS_TEMPLATE = "quarry-ubi-events"
_DAILY_EVENTS = re.compile(rf"^{UBI_EVENTS}-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")


class UbiLayoutError(RuntimeError):
    """The cluster holds a layout Quarry will not change on its own (data would be lost)."""


def ubi_timestamp(moment: dt.datetime) -> str:
    """A UTC time as the UBI stores keep it: `strict_date_time` with milliseconds and `Z`."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def events_index(day: dt.date) -> str:
    """Events are stored in one index per UTC day behind the `ubi_events` alias: dropping a day of
    old events is deleting one index, not a delete-by-query over billions of documents."""
    return f"{UBI_EVENTS}-{day:%Y.%m.%d}"


def events_index_day(name: str) -> dt.date | None:
    match = _DAILY_EVENTS.match(name)
    return dt.date(*(int(g) for g in match.groups())) if match else None


# The index behind the `ubi_queries` alias. Its number changes with a mapping change OpenSearch cannot
# apply in place; the pipelines' migration (quarry/ubi_migrations.py) then copies the records over.
QUERIES_INDEX = f"{UBI_QUERIES}-v2"


def ensure_ubi_indices(engine: SearchEngine, mappings_dir: str | Path, migrate: bool = True) -> list[str]:
    """`ubi_queries` as an alias over one index; `ubi_events` as an index template whose daily indices
    all join the `ubi_events` alias, so readers (Dashboards, UBI tooling, the pipelines) just read
    `ubi_events`. `migrate`: also move stores of an older layout (the pipelines CLI does; API workers
    do not: a migration must run once, and must not make every worker's start wait for it)."""
    created = []
    queries = read_mappings(mappings_dir, UBI_QUERIES)
    if migrate:
        migrate_queries_index(engine, queries, UBI_QUERIES, QUERIES_INDEX)
    elif not engine.index_exists(UBI_QUERIES):  # a fresh cluster: nothing to move
        migrate_queries_index(engine, queries, UBI_QUERIES, QUERIES_INDEX)
        created.append(QUERIES_INDEX)
    elif not engine.alias_targets(UBI_QUERIES):
        log.warning(
            "ubi_queries has an older layout; run `python -m pipelines ubi-migrate` (make up does)",
            extra={"index": UBI_QUERIES},
        )
    if engine.index_exists(UBI_EVENTS) and not engine.alias_targets(UBI_EVENTS):
        if engine.count(UBI_EVENTS):
            raise UbiLayoutError(
                f"a plain index named {UBI_EVENTS} holds events; reindex it into daily indices "
                f"({UBI_EVENTS}-YYYY.MM.DD) and delete it, then retry"
            )
        engine.delete_index(UBI_EVENTS)  # the empty single index of an older layout
    events = read_mappings(mappings_dir, UBI_EVENTS)
    engine.request(
        "PUT",
        f"/_index_template/{EVENTS_TEMPLATE}",
        {
            "index_patterns": [f"{UBI_EVENTS}-*"],
            "template": {**events, "aliases": {UBI_EVENTS: {}}},
            "priority": 100,
        },
    )
    if migrate:
        started = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        additions = existing_event_mapping(events["mappings"])
        for index in engine.list_indices(f"{UBI_EVENTS}-*"):
            update_event_mapping(engine, index, additions)
            migrate_event_ordinals(engine, index, before=started)
    today = events_index(dt.datetime.now(dt.UTC).date())
    if not engine.index_exists(today):  # the alias exists (and answers searches) from the first day on
        engine.create_index(today, {})
        created.append(today)
    point_write_index(engine, today)
    return created


def write_indices(engine: SearchEngine) -> list[str]:
    """The indices writes to the `ubi_events` alias go to (one, or none on an older layout)."""
    try:
        current = engine.request("GET", f"/_alias/{UBI_EVENTS}") or {}
    except SearchEngineError as exc:
        if exc.status == 404:
            return []
        raise
    return [
        name
        for name, entry in current.items()
        if entry.get("aliases", {}).get(UBI_EVENTS, {}).get("is_write_index")
    ]


def point_write_index(engine: SearchEngine, index: str) -> None:
    """Make `index` the one behind the `ubi_events` alias that writes to the alias land in: writers
    that know nothing of daily indices (Data Prepper's OpenSearch sink, the UBI plugin) append to
    `ubi_events` itself, and OpenSearch refuses that unless the alias has exactly one write index."""
    writing = write_indices(engine)
    if writing == [index]:
        return
    actions = [{"add": {"index": name, "alias": UBI_EVENTS, "is_write_index": False}} for name in writing]
    actions.append({"add": {"index": index, "alias": UBI_EVENTS, "is_write_index": True}})
    engine.request("POST", "/_aliases", {"actions": actions})


def successful_queries(engine: SearchEngine, limit: int) -> dict[str, int]:
    """Logged shopper queries that returned at least one product, most frequent first; a query the
    spelling step had to correct ("iphnoe") is no suggestion to show others."""
    try:
        response = engine.search(
            UBI_QUERIES,
            {
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [{"exists": {"field": "query_response_hit_ids"}}],
                        "must_not": [
                            {"prefix": {"user_id": SYNTHETIC_USER_PREFIX}},
                            {"exists": {"field": "query_attributes.corrected"}},
                        ],
                    }
                },
                "aggs": {
                    "q": {"terms": {"field": "normalized_query", "size": limit}},
                    # Records other writers made (the UBI plugin, Data Prepper) have no normalized form.
                    "typed": {
                        "filter": {"bool": {"must_not": [{"exists": {"field": "normalized_query"}}]}},
                        "aggs": {"q": {"terms": {"field": "user_query", "size": limit}}},
                    },
                },
            },
        )
    except SearchEngineError:
        return {}
    counts: dict[str, int] = {}
    aggregations = response.aggregations
    for bucket in aggregations.get("q", {}).get("buckets", []):
        counts[str(bucket["key"])] = int(bucket["doc_count"])
    for bucket in aggregations.get("typed", {}).get("q", {}).get("buckets", []):
        key = normalize(str(bucket["key"]))
        if key:
            counts[key] = counts.get(key, 0) + int(bucket["doc_count"])
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:limit])


ENGAGED_ACTIONS = ("click", "add_to_cart", "purchase")
LOGGED_TEXT_FIELDS = ["query_id", "normalized_query", "user_query", "query_attributes.corrected"]


def event_time(value: Any) -> dt.datetime | None:
    """A stored event's time in UTC: ISO 8601 (without a zone: UTC), or epoch milliseconds, which
    direct writers (Data Prepper) store as the mapping allows; None when it is neither."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def event_object_id(event: dict[str, Any]) -> str | None:
    """The product a stored event concerns. Quarry's ingestion copies it to the top level; writers that
    append to `ubi_events` directly (Data Prepper, the UBI plugin) only nest it, as the spec does."""
    found = event.get("object_id")
    if found is None:
        nested = (event.get("event_attributes") or {}).get("object") or {}
        found = nested.get("object_id") if isinstance(nested, dict) else None
    return str(found) if found is not None else None


def searched_text(logged: dict[str, Any]) -> str:
    """The words a logged search used: the corrected ones when the spelling step corrected it, so
    that clicks after a correction vouch for the correction, never for the typo."""
    attributes = logged.get("query_attributes") or {}
    # Records other writers made have no normalized form: the typed query, normalized here.
    return str(
        attributes.get("corrected")
        or logged.get("normalized_query")
        or normalize(str(logged.get("user_query") or ""))
    )


CLICKED_QUERY_IDS = 50_000
QUERY_ID_CHUNK = 10_000


def clicked_queries(engine: SearchEngine, limit: int) -> dict[str, int]:
    """Logged shopper queries that a click (or cart or purchase) followed, with how many such searches:
    the words of a query someone engaged with are words, whatever the lexicon says. For a search the
    spelling step corrected, the corrected words count. The `CLICKED_QUERY_IDS` searches with the
    most engagement are read."""
    try:
        events = engine.search(
            UBI_EVENTS,
            {
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [{"terms": {"action_name": list(ENGAGED_ACTIONS)}}],
                        "must_not": [{"prefix": {"user_id": SYNTHETIC_USER_PREFIX}}],
                    }
                },
                "aggs": {"q": {"terms": {"field": "query_id", "size": CLICKED_QUERY_IDS}}},
            },
        )
    except SearchEngineError:
        return {}
    ids = [str(b["key"]) for b in events.aggregations.get("q", {}).get("buckets", [])]
    counts: dict[str, int] = {}
    for start in range(0, len(ids), QUERY_ID_CHUNK):
        chunk = ids[start : start + QUERY_ID_CHUNK]
        try:
            found = engine.search(
                UBI_QUERIES,
                {
                    "size": len(chunk),
                    "_source": LOGGED_TEXT_FIELDS,
                    "query": {"terms": {"query_id": chunk}},
                },
            )
        except SearchEngineError:
            return counts
        for hit in found.hits:
            text = searched_text(hit.source)
            if text:
                counts[text] = counts.get(text, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:limit])


def drop_expired_events(engine: SearchEngine, retention_days: int, today: dt.date) -> list[str]:
    """Delete whole daily event indices older than the retention window (cheap: no delete-by-query)."""
    oldest_kept = today - dt.timedelta(days=retention_days)
    # Direct writers fill the write index whatever its name says; while it is not today's (no event
    # came through Quarry since midnight) it holds recent events and is kept.
    writing = write_indices(engine)
    expired = [
        name
        for name in engine.list_indices(f"{UBI_EVENTS}-*")
        if (day := events_index_day(name)) is not None and day < oldest_kept and name not in writing
    ]
    for name in expired:
        engine.delete_index(name)
    return expired


def drop_expired_queries(engine: SearchEngine, retention_days: int, now: dt.datetime) -> int:
    """Delete logged searches older than the retention window: `ubi_queries` is one index (events
    name their searches by id across days), so by query, not by dropping indices."""
    cutoff = ubi_timestamp(now - dt.timedelta(days=retention_days))
    return delete_by_query(engine, UBI_QUERIES, {"range": {"timestamp": {"lt": cutoff}}})


class UbiLayout:
    """Makes sure the UBI stores exist before the first write of a process (a fresh cluster has none;
    the API creates them rather than failing its first events or losing its first query logs)."""

    def __init__(self, engine: SearchEngine, mappings_dir: str | Path) -> None:
        self._engine = engine
        self._mappings_dir = mappings_dir
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                ensure_ubi_indices(self._engine, self._mappings_dir, migrate=False)
                self._ready = True


MGET_CHUNK = 1000
# Only where the event has none: `exists` misses a client's value that is not indexed (longer than the
# mapping's `ignore_above`, or in a day index mapped before `user_query` was), and it must stay.
_FILL_USER_QUERY = (
    "if (ctx._source.user_query == null) { ctx._source.user_query = params.user_query } "
    "else { ctx.op = 'noop' }"
)


def logged_user_queries(engine: SearchEngine, query_ids: list[str]) -> dict[str, str]:
    """`user_query` of the logged searches among `query_ids` (a multi-get, which OpenSearch answers
    from its translog: a record written a moment ago is found before any refresh)."""
    found: dict[str, str] = {}
    for start in range(0, len(query_ids), MGET_CHUNK):
        response = engine.request(
            "POST",
            f"/{UBI_QUERIES}/_mget?_source_includes=user_query",
            {"ids": query_ids[start : start + MGET_CHUNK]},
        )
        for doc in response.get("docs", []):
            text = (doc.get("_source") or {}).get("user_query") if doc.get("found") else None
            if isinstance(text, str):
                found[str(doc["_id"])] = text
    return found


def fill_event_user_queries(engine: SearchEngine, since: dt.datetime, batch: int = 5000) -> tuple[int, int]:
    """Give events that name a search but carry no `user_query` the search's, from `ubi_queries`: an
    event can arrive before its search's record left another worker's write buffer, and click models
    group by the `user_query` on the event. Returns (events filled, events whose search is unknown)."""
    missing = {
        "bool": {
            "filter": [
                {"exists": {"field": "query_id"}},
                {"range": {"timestamp": {"gte": since.isoformat()}}},
            ],
            "must_not": [{"exists": {"field": "user_query"}}],
        }
    }
    filled = unknown = 0
    pending: list[tuple[str, str, str]] = []  # (index, event id, query id)

    def flush() -> None:
        nonlocal filled, unknown
        texts = logged_user_queries(engine, sorted({query_id for _, _, query_id in pending}))
        body = b"".join(
            index_action(
                index,
                event_id,
                {"script": {"source": _FILL_USER_QUERY, "params": {"user_query": texts[query_id]}}},
                op_type="update",
            )
            for index, event_id, query_id in pending
            if query_id in texts
        )
        updated = sum(1 for _, _, query_id in pending if query_id in texts)
        if body:
            failed = [item for item in engine.bulk(body).items if item.status >= 300]
            if failed:
                raise SearchEngineError(f"{len(failed)} events not updated: {failed[0].error}")
        filled += updated
        unknown += len(pending) - updated
        pending.clear()

    for hit in engine.scan(UBI_EVENTS, missing):
        pending.append((hit.index, hit.id, str(hit.source["query_id"])))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return filled, unknown

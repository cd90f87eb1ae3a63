"""The User Behavior Insights stores (`ubi_queries`, `ubi_events`): creating them and reading back
what shoppers searched for."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from quarry.adapters.search_engine import SearchEngine, SearchEngineError, index_action

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


def events_index(day: dt.date) -> str:
    """Events are stored in one index per UTC day behind the `ubi_events` alias: dropping a day of
    old events is deleting one index, not a delete-by-query over billions of documents."""
    return f"{UBI_EVENTS}-{day:%Y.%m.%d}"


def events_index_day(name: str) -> dt.date | None:
    match = _DAILY_EVENTS.match(name)
    return dt.date(*(int(g) for g in match.groups())) if match else None


# The index behind the `ubi_queries` alias. Its number changes with a mapping change OpenSearch cannot
# apply in place; `ensure_ubi_indices` then copies the records over.
QUERIES_INDEX = f"{UBI_QUERIES}-v2"
# Records of the first layout (a plain `ubi_queries` index) stored the normalized query as `user_query`.
_COPY_NORMALIZED = (
    "if (ctx._source.normalized_query == null && ctx._source.user_query != null) "
    "{ ctx._source.normalized_query = ctx._source.user_query }"
)


def _ensure_queries_index(engine: SearchEngine, mappings_dir: str | Path) -> list[str]:
    """`ubi_queries` is an alias over `QUERIES_INDEX`, so that a mapping change that needs a new index
    (the UBI plugin's `user_query` has a `.keyword` subfield and a normalized form beside it; the first
    layout had neither) is a copy and an atomic switch, and readers and writers keep the name."""
    if engine.alias_targets(UBI_QUERIES) == [QUERIES_INDEX]:
        return []
    created = []
    if not engine.index_exists(QUERIES_INDEX):
        try:
            engine.create_index(
                QUERIES_INDEX, json.loads((Path(mappings_dir) / f"{UBI_QUERIES}.json").read_text())
            )
            created.append(QUERIES_INDEX)
        except SearchEngineError as exc:
            if "already_exists" not in str(exc):
                raise
    if engine.index_exists(UBI_QUERIES) and not engine.alias_targets(UBI_QUERIES):
        # A plain index of the first layout: copied (again, if an earlier copy stopped half-way:
        # records already copied are kept) before its name goes to the alias.
        copied = _copy_queries(engine)
        log.warning("ubi_queries moved to a new index", extra={"index": QUERIES_INDEX, "records": copied})
    _switch_queries_alias(engine)
    return created


def _copy_queries(engine: SearchEngine) -> int:
    """Reindex the first layout's records as a background task, polled, so that no HTTP request has to
    outlive the copy of millions of records."""
    task = engine.request(
        "POST",
        "/_reindex?wait_for_completion=false&refresh=true",
        {
            "conflicts": "proceed",
            "source": {"index": UBI_QUERIES, "size": 2000},
            "dest": {"index": QUERIES_INDEX, "op_type": "create"},
            "script": {"lang": "painless", "source": _COPY_NORMALIZED},
        },
    )["task"]
    while not (status := engine.request("GET", f"/_tasks/{task}")).get("completed"):
        time.sleep(1.0)
    response = status.get("response") or {}
    if status.get("error") or response.get("failures"):
        raise UbiLayoutError(
            f"copying {UBI_QUERIES} to {QUERIES_INDEX} failed: "
            f"{status.get('error') or response.get('failures', [])[:3]}"
        )
    return int(response.get("created", 0))


def _switch_queries_alias(engine: SearchEngine) -> None:
    """One cluster-state update drops a plain index of the old layout and gives its name to the alias."""
    actions: list[dict[str, Any]] = []
    if engine.index_exists(UBI_QUERIES) and not engine.alias_targets(UBI_QUERIES):
        actions.append({"remove_index": {"index": UBI_QUERIES}})
    actions.append({"add": {"index": QUERIES_INDEX, "alias": UBI_QUERIES, "is_write_index": True}})
    engine.request("POST", "/_aliases", {"actions": actions})


def _existing_event_mapping(mappings: dict[str, Any]) -> dict[str, Any]:
    """The event mapping without what an existing index cannot take in place: a date field's format
    (older daily indices keep `strict_date_optional_time`, which reads everything the new one does)."""
    properties = {
        name: field for name, field in mappings["properties"].items() if field.get("type") != "date"
    }
    return {**mappings, "properties": properties}


_CONFLICT = re.compile(r"mapper \[([^\]]+)\] cannot be changed")
MAX_CONFLICTS = 20


def _without_field(mappings: dict[str, Any], path: str) -> dict[str, Any]:
    """`mappings` less the field at the dotted `path` (a copy)."""
    head, _, rest = path.partition(".")
    properties = dict(mappings.get("properties", {}))
    if head in properties:
        if rest:
            properties[head] = _without_field(properties[head], rest)
        else:
            del properties[head]
    return {**mappings, "properties": properties}


def _update_event_mapping(engine: SearchEngine, index: str, mappings: dict[str, Any]) -> None:
    """Give an existing daily index the mapping's additions. OpenSearch applies an update all or
    nothing, so a field whose type changed since the index was made (a conflict) is left out and
    reported, and the rest is applied."""
    skipped = []
    for _ in range(MAX_CONFLICTS):
        try:
            engine.request("PUT", f"/{index}/_mapping", mappings)
            break
        except SearchEngineError as exc:
            conflict = _CONFLICT.search(str(exc))
            if conflict is None:
                log.warning("the event mapping was not applied", extra={"index": index, "error": str(exc)})
                return
            skipped.append(conflict.group(1))
            mappings = _without_field(mappings, conflict.group(1))
    if skipped:
        log.warning(
            "event fields keep their old type in an existing daily index (reindex the day to change them)",
            extra={"index": index, "fields": skipped},
        )


def ensure_ubi_indices(engine: SearchEngine, mappings_dir: str | Path) -> list[str]:
    """`ubi_queries` as an alias over one index; `ubi_events` as an index template whose daily indices
    all join the `ubi_events` alias, so readers (Dashboards, UBI tooling, the pipelines) just read
    `ubi_events`."""
    created = _ensure_queries_index(engine, mappings_dir)
    if engine.index_exists(UBI_EVENTS) and not engine.alias_targets(UBI_EVENTS):
        if engine.count(UBI_EVENTS):
            raise UbiLayoutError(
                f"a plain index named {UBI_EVENTS} holds events; reindex it into daily indices "
                f"({UBI_EVENTS}-YYYY.MM.DD) and delete it, then retry"
            )
        engine.delete_index(UBI_EVENTS)  # the empty single index of an older layout
    body = json.loads((Path(mappings_dir) / f"{UBI_EVENTS}.json").read_text())
    engine.request(
        "PUT",
        f"/_index_template/{EVENTS_TEMPLATE}",
        {
            "index_patterns": [f"{UBI_EVENTS}-*"],
            "template": {**body, "aliases": {UBI_EVENTS: {}}},
            "priority": 100,
        },
    )
    # Daily indices created before a mapping change get its additions (a new field or subfield, a
    # higher `ignore_above`), one index at a time: OpenSearch applies a mapping update all or nothing,
    # and one index with a conflicting field (a type changed) would keep the additions from all the
    # others. A conflict needs a reindex of that day and is reported.
    existing = _existing_event_mapping(body["mappings"])
    for index in engine.list_indices(f"{UBI_EVENTS}-*"):
        _update_event_mapping(engine, index, existing)
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
                "aggs": {"q": {"terms": {"field": "normalized_query", "size": limit}}},
            },
        )
    except SearchEngineError:
        return {}
    return {str(b["key"]): int(b["doc_count"]) for b in response.aggregations.get("q", {}).get("buckets", [])}


ENGAGED_ACTIONS = ("click", "add_to_cart", "purchase")
LOGGED_TEXT_FIELDS = ["query_id", "normalized_query", "query_attributes.corrected"]


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
    return str(attributes.get("corrected") or logged.get("normalized_query") or "")


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
                ensure_ubi_indices(self._engine, self._mappings_dir)
                self._ready = True


MGET_CHUNK = 1000


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
            index_action(index, event_id, {"doc": {"user_query": texts[query_id]}}, op_type="update")
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

"""Moving UBI stores written by an older Quarry to the current layout. Run by the pipelines CLI
(`make up`, `make events-retention`, `python -m pipelines ubi-migrate`), never by API workers: a
migration copies or rewrites records, must run once, and must not race itself.

- `ubi_queries` became an alias over `ubi_queries-v2` (the UBI plugin's `.keyword` subfields,
  `user_query` as typed with `normalized_query` beside it; the first layout's `user_query` held the
  normalized text). The old index is write-blocked, copied, counted and only then dropped.
- Event ordinals became 0-based (docs/events.md#positions): daily indices written before are rewritten
  once, and marked in their mapping's `_meta`.
- Daily event indices get the mapping's additions, field by field around type conflicts."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from quarry.adapters.search_engine import SearchEngine, SearchEngineError

log = logging.getLogger("quarry.ubi")

ORDINAL_META = "quarry_ordinal_base"
MIGRATION_TIMEOUT_S = 6 * 3600
_TO_NORMALIZED = (
    "if (ctx._source.normalized_query == null && ctx._source.user_query != null) "
    "{ ctx._source.normalized_query = ctx._source.user_query }"
)
_TO_ZERO_BASED = (
    "def p = ctx._source.event_attributes?.position;"
    " if (p != null && p.ordinal instanceof Number) { p.ordinal = p.ordinal - 1 } else { ctx.op = 'noop' }"
)


class UbiMigrationError(RuntimeError):
    """A migration could not finish safely; nothing was dropped."""


def run_task(
    engine: SearchEngine, path: str, body: dict[str, Any], timeout_s: float = MIGRATION_TIMEOUT_S
) -> dict[str, Any]:
    """Start a reindex or update-by-query as a background task and poll it, so that no HTTP request
    has to outlive a copy of millions of records; progress is logged every poll."""
    separator = "&" if "?" in path else "?"
    task = engine.request("POST", f"{path}{separator}wait_for_completion=false", body)["task"]
    deadline = time.monotonic() + timeout_s
    while not (status := engine.request("GET", f"/_tasks/{task}")).get("completed"):
        if time.monotonic() > deadline:
            raise UbiMigrationError(f"task {task} ({path}) did not finish within {timeout_s:.0f} s")
        progress = status.get("task", {}).get("status", {})
        log.info(
            "ubi migration running",
            extra={
                "task": task,
                "total": progress.get("total"),
                "done": progress.get("created", 0) + progress.get("updated", 0),
            },
        )
        time.sleep(2.0)
    response: dict[str, Any] = status.get("response") or {}
    if status.get("error") or response.get("failures"):
        raise UbiMigrationError(f"{path} failed: {status.get('error') or response.get('failures', [])[:3]}")
    return response


def migrate_queries_index(engine: SearchEngine, mappings: dict[str, Any], alias: str, index: str) -> bool:
    """Make `alias` point at `index` (created with `mappings`); a plain index named `alias` (the first
    layout) is write-blocked, copied into `index` and dropped only once every record is there. Writers
    of an older version that still write to it get errors while this runs (their records are counted
    as dropped) instead of losing records silently after the copy. True when records were moved."""
    if engine.alias_targets(alias) == [index]:
        return False
    if not engine.index_exists(index):
        try:
            engine.create_index(index, mappings)
        except SearchEngineError as exc:
            if "already_exists" not in str(exc):
                raise
    plain = engine.index_exists(alias) and not engine.alias_targets(alias)
    actions: list[dict[str, Any]] = []
    if plain:
        engine.put_index_settings(alias, {"index.blocks.write": True})
        copied = run_task(
            engine,
            "/_reindex?refresh=true",
            {
                "conflicts": "proceed",  # records an interrupted run copied already are kept
                "source": {"index": alias, "size": 2000},
                "dest": {"index": index, "op_type": "create"},
                "script": {"lang": "painless", "source": _TO_NORMALIZED},
            },
        )
        engine.refresh(index)
        source, target = engine.count(alias), engine.count(index)
        if target < source:
            raise UbiMigrationError(
                f"{index} holds {target} records after the copy, {alias} {source}; {alias} is kept "
                "(write-blocked): rerun the migration"
            )
        log.warning(
            "ubi_queries moved to a new index", extra={"index": index, "records": copied.get("created", 0)}
        )
        actions.append({"remove_index": {"index": alias}})
    actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
    engine.request("POST", "/_aliases", {"actions": actions})
    return plain


def migrate_event_ordinals(engine: SearchEngine, index: str, before: str) -> int:
    """Rewrite a daily event index written while ordinals were 1-based (no `_meta` mark): every ordinal
    of an event received before `before` (ISO time) goes down by one, then the index is marked, so this
    happens once. Returns the events rewritten."""
    mapping = engine.request("GET", f"/{index}/_mapping")[index]["mappings"]
    if (mapping.get("_meta") or {}).get(ORDINAL_META) == 0:
        return 0
    response = run_task(
        engine,
        f"/{index}/_update_by_query?conflicts=proceed&refresh=true",
        {
            "query": {
                "bool": {
                    "filter": [{"exists": {"field": "event_attributes.position.ordinal"}}],
                    "must_not": [{"range": {"received_at": {"gte": before}}}],
                }
            },
            "script": {"lang": "painless", "source": _TO_ZERO_BASED},
        },
    )
    engine.request("PUT", f"/{index}/_mapping", {"_meta": {**(mapping.get("_meta") or {}), ORDINAL_META: 0}})
    updated = int(response.get("updated", 0))
    if updated:
        log.warning("event ordinals moved to 0-based", extra={"index": index, "events": updated})
    return updated


_CONFLICTS = (
    re.compile(r"mapper \[([^\]]+)\] cannot be changed"),
    re.compile(r"[Mm]apper for \[([^\]]+)\] conflicts"),
)
MAX_CONFLICTS = 20


def without_field(mappings: dict[str, Any], path: str) -> dict[str, Any]:
    """`mappings` less the field (or multi-field subfield, `title.keyword`) at the dotted `path`; a
    copy. Unchanged when there is no such field."""
    head, _, rest = path.partition(".")
    properties = dict(mappings.get("properties", {}))
    if head in properties:
        field = properties[head]
        if not rest:
            del properties[head]
        elif rest in field.get("fields", {}):
            properties[head] = {**field, "fields": {k: v for k, v in field["fields"].items() if k != rest}}
        else:
            properties[head] = without_field(field, rest)
    return {**mappings, "properties": properties}


def existing_event_mapping(mappings: dict[str, Any]) -> dict[str, Any]:
    """The event mapping without what an existing index cannot take in place: a date field's format
    (older daily indices keep `strict_date_optional_time`, which reads everything the new one does),
    and the `_meta` mark, which an index earns by migrating."""
    properties = {
        name: field for name, field in mappings["properties"].items() if field.get("type") != "date"
    }
    return {key: value for key, value in mappings.items() if key != "_meta"} | {"properties": properties}


def update_event_mapping(engine: SearchEngine, index: str, mappings: dict[str, Any]) -> list[str]:
    """Give an existing daily index the mapping's additions (a field or subfield, a higher
    `ignore_above`). OpenSearch applies an update all or nothing, so a field whose type changed since
    the index was made is left out, the rest applied, and the fields left out are returned."""
    skipped: list[str] = []
    for _ in range(MAX_CONFLICTS):
        try:
            engine.request("PUT", f"/{index}/_mapping", mappings)
            break
        except SearchEngineError as exc:
            found = next((m for pattern in _CONFLICTS if (m := pattern.search(str(exc)))), None)
            smaller = without_field(mappings, found.group(1)) if found else mappings
            if found is None or smaller == mappings:
                log.warning("the event mapping was not applied", extra={"index": index, "error": str(exc)})
                return skipped
            skipped.append(found.group(1))
            mappings = smaller
    if skipped:
        log.warning(
            "event fields keep their old type in an existing daily index (reindex the day to change them)",
            extra={"index": index, "fields": skipped},
        )
    return skipped


def read_mappings(mappings_dir: str | Path, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((Path(mappings_dir) / f"{name}.json").read_text())
    return body

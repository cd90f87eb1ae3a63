"""`make privacy-migrate`: pseudonymize the ids of records stored before Quarry pseudonymized them
(docs/privacy.md#existing-data).

Events and logged searches written by an older Quarry, or straight into OpenSearch by another
writer, carry the ids as sent. Once the API pseudonymizes, nothing matches them: their shoppers'
history is cut off, and raw ids stay at rest. This job rewrites them in place under the deployment's
key; a record that already holds pseudonyms is left alone, so the job can be run again at any time.
Afterwards, `make popularity` and `make train-als` rebuild the features and models under the
pseudonyms.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import msgspec
from tqdm import tqdm

from pipelines.indexing.bulk import bulk_index_actions
from quarry.adapters.search_engine import Hit, SearchEngine, index_action
from quarry.privacy import PSEUDONYM_VERSION, Pseudonyms
from quarry.ubi import SYNTHETIC_USER_PREFIX, UBI_EVENTS, UBI_QUERIES

log = logging.getLogger("pipelines.privacy_migrate")
PSEUDONYM = re.compile(rf"({re.escape(SYNTHETIC_USER_PREFIX)})?{PSEUDONYM_VERSION}-[0-9a-f]{{32}}")
# The same pattern in OpenSearch's regexp syntax (anchored by definition).
_PSEUDONYM_REGEXP = f"({SYNTHETIC_USER_PREFIX})?{PSEUDONYM_VERSION}-[0-9a-f]{{32}}"
ID_FIELDS = {"user_id": "user", "client_id": "client"}


class MigrationReport(msgspec.Struct):
    index: str
    found: int
    rewritten: int
    failures: int


def raw_ids_query() -> dict[str, Any]:
    """Records with a user or client id that is not a pseudonym (an empty id names nobody)."""
    return {
        "bool": {
            "should": [
                {
                    "bool": {
                        "filter": [{"exists": {"field": field}}],
                        "must_not": [{"regexp": {field: _PSEUDONYM_REGEXP}}, {"term": {field: ""}}],
                    }
                }
                for field in ID_FIELDS
            ],
            "minimum_should_match": 1,
        }
    }


def _pseudonymized(value: Any, kind: str, pseudonyms: Pseudonyms) -> Any:
    if not isinstance(value, str) or not value or PSEUDONYM.fullmatch(value):
        return value
    return pseudonyms.user(value) if kind == "user" else pseudonyms.client(value)


def changes(source: dict[str, Any], pseudonyms: Pseudonyms) -> dict[str, Any]:
    """The fields to rewrite: the ids, and for a logged search the ids inside its stored request."""
    changed = {}
    for field, kind in ID_FIELDS.items():
        if field in source and (new := _pseudonymized(source[field], kind, pseudonyms)) != source[field]:
            changed[field] = new
    request = source.get("query")
    if isinstance(request, str) and request.startswith("{"):
        try:
            decoded = json.loads(request)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            before = json.dumps(decoded, sort_keys=True)
            decoded["user_id"] = _pseudonymized(decoded.get("user_id"), "user", pseudonyms)
            ubi = decoded.get("ubi")
            if isinstance(ubi, dict):
                ubi["client_id"] = _pseudonymized(ubi.get("client_id"), "client", pseudonyms)
            if json.dumps(decoded, sort_keys=True) != before:
                changed["query"] = json.dumps({k: v for k, v in decoded.items() if v is not None})
    return changed


def migrate(
    engine: SearchEngine, pseudonyms: Pseudonyms, indices: tuple[str, ...] = (UBI_EVENTS, UBI_QUERIES)
) -> list[MigrationReport]:
    reports = []
    for index in indices:
        if not engine.index_exists(index):
            continue
        engine.refresh(index)
        found = engine.count(index, raw_ids_query())
        hits: Iterable[Hit] = tqdm(
            engine.scan(index, raw_ids_query()), desc=index, unit="record", total=found, disable=None
        )
        actions = (
            (hit.id, index_action(hit.index or index, hit.id, {"doc": changed}, op_type="update"))
            for hit in hits
            if (changed := changes(hit.source, pseudonyms))
        )
        stats = bulk_index_actions(engine, actions, total=found, description=f"{index} ids")
        engine.refresh(index)
        report = MigrationReport(index, found, stats.indexed, len(stats.failures))
        log.info("ids pseudonymized", extra=msgspec.to_builtins(report))
        reports.append(report)
    return reports

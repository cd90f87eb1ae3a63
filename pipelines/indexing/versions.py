"""Physical index versions (`<alias>-<timestamp>`) behind an alias.

A new version is built in full while the old one keeps serving, verified (the count OpenSearch holds
equals the count it accepted, and a smoke query answers), then the alias moves in one atomic
update. The version that was live before stays for `make rollback-index`; older ones are deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from pipelines.indexing.bulk import BulkStats, bulk_index
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.bulk import BulkFailure
from quarry.settings import Settings

log = logging.getLogger(__name__)

SYNONYM_FILTER = "quarry_synonyms"


class IndexVerificationError(RuntimeError):
    """The new version does not hold what was accepted; the alias was not moved."""


class BuildResult(msgspec.Struct):
    alias: str
    index: str
    previous: list[str]
    deleted: list[str]
    sent: int
    indexed: int
    failures: list[BulkFailure]
    seconds: float
    docs_per_second: float


def new_version_name(alias: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S%f")
    return f"{alias}-{stamp}"


def versions(engine: SearchEngine, alias: str) -> list[str]:
    """All physical versions of `alias`, oldest first (the timestamp sorts lexically)."""
    pattern = re.compile(rf"^{re.escape(alias)}-\d{{20}}$")
    return sorted(name for name in engine.list_indices(f"{alias}-*") if pattern.match(name))


def load_index_body(
    mappings_dir: str | Path, synonyms: list[str], embedding_dimension: int
) -> dict[str, Any]:
    """products.json with the synonym rules inlined, so a remote cluster needs no files on its disk."""
    body: dict[str, Any] = json.loads((Path(mappings_dir) / "products.json").read_text())
    body["settings"]["analysis"]["filter"][SYNONYM_FILTER]["synonyms"] = list(synonyms)
    body["mappings"]["properties"]["embedding"]["dimension"] = embedding_dimension
    return body


def embedding_dimension(engine: SearchEngine, index: str) -> int:
    mapping = engine.request("GET", f"/{index}/_mapping")[index]["mappings"]
    return int(mapping["properties"]["embedding"]["dimension"])


def live_synonyms(engine: SearchEngine, index: str) -> list[str]:
    settings = engine.get_index_settings(index)
    rules: list[str] = settings["index"]["analysis"]["filter"][SYNONYM_FILTER].get("synonyms", [])
    return rules


def _building(body: dict[str, Any]) -> dict[str, Any]:
    """Bulk loads are faster without refreshes; the live settings come back before verification."""
    building = copy.deepcopy(body)
    building["settings"]["index"]["refresh_interval"] = "-1"
    return building


def verify_version(engine: SearchEngine, index: str, expected: int) -> None:
    engine.refresh(index)
    held = engine.count(index)
    if held != expected:
        raise IndexVerificationError(f"{index} holds {held} documents but {expected} were accepted")
    if expected:
        smoke = engine.search(index, {"size": 1, "query": {"match_all": {}}})
        if not smoke.hits:
            raise IndexVerificationError(f"{index}: smoke query returned nothing")


def swap_and_prune(engine: SearchEngine, alias: str, index: str) -> tuple[list[str], list[str]]:
    """Point the alias at `index`; keep the version it replaces, delete the rest. Returns
    (previous live versions, deleted versions)."""
    previous = engine.alias_targets(alias)
    engine.point_alias(alias, index)
    keep = {index, *previous}
    deleted = [name for name in versions(engine, alias) if name not in keep]
    for name in deleted:
        engine.delete_index(name)
    log.info(
        "alias swapped", extra={"alias": alias, "index": index, "previous": previous, "deleted": deleted}
    )
    return previous, deleted


def build_version(
    engine: SearchEngine,
    alias: str,
    body: dict[str, Any],
    fill: Callable[[str], BulkStats],
    swap: bool = True,
) -> BuildResult:
    """Create a version with `body`, let `fill` load it, verify, and (unless `swap` is false, for
    previews) swap. A failure deletes the new version and leaves the alias where it was."""
    index = new_version_name(alias)
    engine.create_index(index, _building(body))
    previous: list[str] = []
    deleted: list[str] = []
    try:
        stats = fill(index)
        if stats.indexed == 0:
            raise IndexVerificationError(f"no documents were accepted into {index}; the alias was not moved")
        refresh = body["settings"]["index"]["refresh_interval"]
        engine.put_index_settings(index, {"index": {"refresh_interval": refresh}})
        verify_version(engine, index, stats.indexed)
        if swap:
            previous, deleted = swap_and_prune(engine, alias, index)
    except BaseException:
        engine.delete_index(index)
        raise
    return BuildResult(
        alias=alias,
        index=index,
        previous=previous,
        deleted=deleted,
        sent=stats.sent,
        indexed=stats.indexed,
        failures=stats.failures,
        seconds=stats.seconds,
        docs_per_second=stats.docs_per_second,
    )


def build_from_documents(
    engine: SearchEngine,
    settings: Settings,
    alias: str,
    documents: Iterable[tuple[str, dict[str, Any]]],
    synonyms: list[str],
    total: int | None = None,
    embedding_dimension: int | None = None,
    swap: bool = True,
) -> BuildResult:
    """`embedding_dimension` follows the embedding model when vectors are written (make embeddings).
    `swap=False`: the version is built and verified, and the alias stays (a gate judges it first)."""
    body = load_index_body(
        settings.mappings_dir, synonyms, embedding_dimension or settings.embedding_dimension
    )

    def fill(index: str) -> BulkStats:
        return bulk_index(
            engine,
            index,
            documents,
            chunk_size=settings.bulk_chunk_size,
            max_retries=settings.bulk_max_retries,
            initial_backoff_s=settings.bulk_initial_backoff_s,
            total=total,
            description=f"indexing {alias}",
        )

    return build_version(engine, alias, body, fill, swap=swap)


def rebuild_with_synonyms(
    engine: SearchEngine, settings: Settings, alias: str, synonyms: list[str], swap: bool = True
) -> BuildResult:
    """A new version with new analysis settings, filled server-side from the live one (`_reindex`)."""
    live = engine.alias_targets(alias)
    if len(live) != 1:
        raise SearchEngineError(f"alias {alias} points at {live}; expected exactly one index")
    source = live[0]
    # The copy keeps the live index's vectors, so it keeps their dimension (it follows the model).
    body = load_index_body(settings.mappings_dir, synonyms, embedding_dimension(engine, source))
    expected = engine.count(source)

    def fill(index: str) -> BulkStats:
        started = dt.datetime.now(dt.UTC)
        copied = engine.reindex(source, index)
        seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        if copied != expected:
            raise IndexVerificationError(f"reindex copied {copied} of {expected} documents from {source}")
        return BulkStats(sent=expected, indexed=copied, seconds=seconds)

    return build_version(engine, alias, body, fill, swap=swap)


def rollback(engine: SearchEngine, alias: str) -> tuple[str, str]:
    """Point the alias at the newest version older than the live one. Returns (from, to)."""
    live = engine.alias_targets(alias)
    if len(live) != 1:
        raise SearchEngineError(f"alias {alias} points at {live}; cannot tell which version is live")
    older = [name for name in versions(engine, alias) if name < live[0]]
    if not older:
        raise SearchEngineError(f"no version of {alias} older than {live[0]} to roll back to")
    engine.point_alias(alias, older[-1])
    return live[0], older[-1]

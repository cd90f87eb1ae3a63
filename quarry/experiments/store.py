"""Experiments defined through the admin API (docs/experiments.md#the-admin-api), kept as versions in
`<prefix>-experiments` on the search cluster, where every API worker and instance reads them.

Every change is a new version (`<name>@<n>`, written with `_create`, so two admins changing one
experiment at once cannot both win: the second gets a conflict and retries on the new version), and
nothing is overwritten: the history of who defined, changed or stopped an experiment, when and why,
stays readable. A version without a definition retires the experiment (stopped before it started).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.experiments.definitions import Experiment
from quarry.records import RecordIndex, RecordStoreError

CONFLICT = 409
PROPERTIES: dict[str, Any] = {
    "name": {"type": "keyword"},
    "version": {"type": "integer"},
    "definition": {"type": "keyword", "index": False, "doc_values": False},
    "changed_at": {"type": "date"},
    "changed_by": {"type": "keyword"},
    "reason": {"type": "keyword", "index": False, "doc_values": False},
}
HISTORY_LIMIT = 1000


def experiments_index(prefix: str) -> str:
    """The index of a deployment's QUARRY_SECURITY_INDICES_PREFIX."""
    return f"{prefix}-experiments"


class StoredVersion(msgspec.Struct, frozen=True):
    name: str
    version: int
    definition: Experiment | None
    """None: retired (stopped before it started)."""
    changed_at: str
    changed_by: str
    reason: str


class VersionConflictError(RuntimeError):
    """Another change made the version this one meant to write."""


class ExperimentStore:
    def __init__(self, engine: SearchEngine, index: str) -> None:
        self._engine = engine
        self._records = RecordIndex(engine, index, PROPERTIES)
        self.index = index

    @staticmethod
    def _decoded(source: dict[str, Any]) -> StoredVersion:
        raw = source.get("definition")
        return StoredVersion(
            name=str(source["name"]),
            version=int(source["version"]),
            definition=msgspec.json.decode(raw, type=Experiment) if raw else None,
            changed_at=str(source["changed_at"]),
            changed_by=str(source.get("changed_by", "")),
            reason=str(source.get("reason", "")),
        )

    def history(self, name: str) -> list[StoredVersion]:
        """Oldest first."""
        body = {"size": HISTORY_LIMIT, "query": {"term": {"name": name}}, "sort": [{"version": "asc"}]}
        return [self._decoded(source) for source in self._records.search(body)]

    def current(self) -> list[StoredVersion]:
        """The newest version of each experiment, retired ones included, by name."""
        newest: dict[str, StoredVersion] = {}
        for source in self._records.all():
            stored = self._decoded(source)
            if stored.name not in newest or stored.version > newest[stored.name].version:
                newest[stored.name] = stored
        return [newest[name] for name in sorted(newest)]

    def save(
        self,
        name: str,
        definition: Experiment | None,
        version: int,
        actor: str,
        reason: str,
        now: dt.datetime,
    ) -> StoredVersion:
        """Write `version` (the one after the newest the caller read); VersionConflictError when
        another change wrote it first."""
        stored = StoredVersion(
            name, version, definition, now.isoformat(timespec="milliseconds"), actor, reason
        )
        document = {
            **msgspec.to_builtins(stored),
            "definition": msgspec.json.encode(definition).decode() if definition else None,
        }
        self._records.ensure()
        try:
            self._engine.request("PUT", f"/{self.index}/_create/{name}@{version}?refresh=wait_for", document)
        except SearchEngineError as exc:
            if exc.status == CONFLICT:
                raise VersionConflictError(f"experiment {name!r} changed meanwhile; read it again") from exc
            raise RecordStoreError(str(exc)) from exc
        return stored

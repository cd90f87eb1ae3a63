"""Small operational indices (the audit log, access lists): a few documents each, written rarely,
durable the moment a write returns (translog fsynced per request, `refresh=wait_for`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quarry.adapters.search_engine import SearchEngine, SearchEngineError

SMALL_INDEX_SETTINGS: dict[str, Any] = {
    "index": {"number_of_shards": 1, "number_of_replicas": 0, "translog.durability": "request"}
}


def ensure_index(engine: SearchEngine, index: str, mapping: Mapping[str, Any]) -> None:
    """Create the index unless it exists (another process may create it at the same moment)."""
    if engine.index_exists(index):
        return
    try:
        engine.create_index(index, dict(mapping))
    except SearchEngineError as exc:
        if "already_exists" not in str(exc):
            raise


def delete_by_query(engine: SearchEngine, index: str, query: Mapping[str, Any]) -> int:
    """Delete what matches, refreshed before it returns; 0 when the index does not exist. A shard
    that failed part of the delete is an error, never a silent partial count."""
    try:
        response = engine.request(
            "POST", f"/{index}/_delete_by_query?refresh=true&conflicts=proceed", {"query": dict(query)}
        )
    except SearchEngineError as exc:
        if exc.status == 404:
            return 0
        raise
    if response.get("failures"):
        raise SearchEngineError(f"delete by query failed on {index}: {response['failures'][0]}")
    return int(response.get("deleted", 0))


class RecordStoreError(RuntimeError):
    """The index did not answer or refused the write."""


class RecordIndex:
    def __init__(self, engine: SearchEngine, index: str, properties: Mapping[str, Any]) -> None:
        self._engine = engine
        self.index = index
        self._mapping = {
            "settings": SMALL_INDEX_SETTINGS,
            "mappings": {"dynamic": False, "properties": dict(properties)},
        }
        self._ready = False

    def ensure(self) -> None:
        if not self._ready:
            ensure_index(self._engine, self.index, self._mapping)
            self._ready = True

    def put(self, doc_id: str, document: Mapping[str, Any]) -> None:
        try:
            self.ensure()
            self._engine.request("PUT", f"/{self.index}/_doc/{doc_id}?refresh=wait_for", dict(document))
        except SearchEngineError as exc:
            raise RecordStoreError(str(exc)) from exc

    def get(self, doc_id: str) -> dict[str, Any] | None:
        """None when there is no such record (or no index yet)."""
        try:
            return self._engine.get_document(self.index, doc_id)
        except SearchEngineError as exc:
            raise RecordStoreError(str(exc)) from exc

    def delete(self, doc_id: str) -> bool:
        """False when there was no such record."""
        try:
            self._engine.request("DELETE", f"/{self.index}/_doc/{doc_id}?refresh=wait_for")
        except SearchEngineError as exc:
            if exc.status == 404:
                return False
            raise RecordStoreError(str(exc)) from exc
        return True

    def search(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            if not self._engine.index_exists(self.index):
                return []
            return [hit.source for hit in self._engine.search(self.index, body).hits]
        except SearchEngineError as exc:
            raise RecordStoreError(str(exc)) from exc

    def all(self) -> list[dict[str, Any]]:
        try:
            if not self._engine.index_exists(self.index):
                return []
            return [hit.source for hit in self._engine.scan(self.index)]
        except SearchEngineError as exc:
            raise RecordStoreError(str(exc)) from exc

"""One shopper's data in every store that holds it: export it, or erase it with a receipt
(docs/privacy.md#the-data-map).

A user's records are found by pseudonym (quarry/privacy.py), and so are the sessions and clients
the user was signed in on: their anonymous events and searches (before signing in, in the same
session) are the user's too, unless another user is named on them.

Erasure, store by store:
- `<prefix>-privacy`: the erasure is recorded first, so a failure half-way leaves the next training
  excluding the user anyway, and a retry (erasure is idempotent) finishes the rest;
- `ubi_events` and `ubi_queries`: delete by query, once the API's write buffers have landed;
- Redis: the user's features, the sessions' recent products and every cached search page of the user
  or of the sessions;
- the ALS model: the user's factors, id and history leave every stored version; the current version
  is republished without them, so every API process reloads it (QUARRY_MODEL_RELOAD_S).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.canary import INDEX as CANARY_INDEX
from quarry.canary import unit_of
from quarry.privacy import Consent, UserPrivacy
from quarry.privacy_registry import PrivacyRegistry
from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG
from quarry.recommenders import ARTIFACT as ALS_ARTIFACT
from quarry.recommenders import user_factors, without_user
from quarry.records import RecordStoreError, delete_by_query
from quarry.redis_keys import SESSION_KEEP, search_page_patterns, session_key, user_affinity_key
from quarry.timestamps import iso_utc
from quarry.ubi import UBI_EVENTS, UBI_QUERIES

log = logging.getLogger("quarry.privacy")
_LINKED_PAGE = 1000
MAX_LINKED_IDS = 10000
"""Sessions or clients of one user beyond this are not followed (a bot, not a shopper): the user's
own records are still all erased, and the receipt says the limit was met."""


class StoreReceipt(msgspec.Struct, frozen=True, omit_defaults=True):
    store: str
    removed: int
    detail: str = ""
    error: str | None = None
    """Why this store could not be erased; the erasure is then incomplete and may be retried."""


class ErasureReceipt(msgspec.Struct, frozen=True):
    user: str
    """The pseudonym: the receipt is stored and logged, so it names nobody."""
    erased_at: str
    complete: bool
    stores: list[StoreReceipt]


class ModelData(msgspec.Struct, frozen=True):
    artifact: str
    version: str
    factors: list[float] | None
    history: dict[str, Any] | None


class UserExport(msgspec.Struct, frozen=True):
    user: str
    """The pseudonym every stored record carries instead of the user id."""
    exported_at: str
    consent: Consent
    erased_at: str | None
    sessions: list[str]
    clients: list[str]
    events: list[dict[str, Any]]
    queries: list[dict[str, Any]]
    category_affinity: dict[str, float] | None
    session_products: dict[str, list[str]]
    model: ModelData | None
    recommendations: list[dict[str, Any]] = []
    """The personal recommendation answers recorded for the user (quarry/recommendation_log.py)."""


UNITS_PER_DELETE = 10_000


class Linked(msgspec.Struct, frozen=True):
    sessions: list[str]
    clients: list[str]
    truncated: bool


class UserData:
    def __init__(
        self,
        ubi_engine: SearchEngine,
        kv: KeyValueStore,
        artifacts: ArtifactStore,
        registry: PrivacyRegistry,
        events_index: str = UBI_EVENTS,
        queries_index: str = UBI_QUERIES,
        settle_s: float = 1.0,
        recommendations_index: str = RECOMMENDATION_LOG,
        canary_engine: SearchEngine | None = None,
    ) -> None:
        """`canary_engine`: where the canary's request records are (the search cluster)."""
        self._canary_engine = canary_engine
        self._settle_s = settle_s
        self._engine = ubi_engine
        self._kv = kv
        self._artifacts = artifacts
        self._registry = registry
        self._events = events_index
        self._queries = queries_index
        self._recommendations = recommendations_index
        self._indices = (events_index, queries_index, recommendations_index)

    # --- finding ------------------------------------------------------------------------------------

    def _linked_ids(self, index: str, user: str, field: str) -> tuple[set[str], bool]:
        found: set[str] = set()
        after: dict[str, Any] | None = None
        while len(found) < MAX_LINKED_IDS:
            composite: dict[str, Any] = {
                "size": _LINKED_PAGE,
                "sources": [{"id": {"terms": {"field": field}}}],
            }
            if after:
                composite["after"] = after
            body = {
                "size": 0,
                "query": {"term": {"user_id": user}},
                "aggs": {"ids": {"composite": composite}},
            }
            try:
                response = self._engine.request("POST", f"/{index}/_search", body)
            except SearchEngineError as exc:
                if exc.status == 404:
                    return found, False
                raise
            result = response["aggregations"]["ids"]
            found.update(str(bucket["key"]["id"]) for bucket in result["buckets"])
            after = result.get("after_key")
            if not after or len(result["buckets"]) < _LINKED_PAGE:
                return found, False
        return found, True

    def _refresh(self) -> None:
        """Make the newest writes searchable: a delete by query sees only what a search would."""
        for index in self._indices:
            try:
                self._engine.refresh(index)
            except SearchEngineError as exc:
                if exc.status != 404:
                    raise

    def linked(self, user: str) -> Linked:
        sessions: set[str] = set()
        clients: set[str] = set()
        truncated = False
        for index in self._indices:
            for field, into in (("session_id", sessions), ("client_id", clients)):
                ids, cut = self._linked_ids(index, user, field)
                into.update(ids)
                truncated |= cut
        return Linked(sorted(sessions), sorted(clients), truncated)

    @staticmethod
    def records_query(user: str, linked: Linked) -> dict[str, Any]:
        """The user's records, and the anonymous records of the user's sessions and clients."""
        anonymous = {"exists": {"field": "user_id"}}
        should: list[dict[str, Any]] = [{"term": {"user_id": user}}]
        for field, ids in (("session_id", linked.sessions), ("client_id", linked.clients)):
            if ids:
                should.append({"bool": {"filter": [{"terms": {field: ids}}], "must_not": [anonymous]}})
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def _scan(self, index: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        try:
            for hit in self._engine.scan(index, query):
                yield hit.source
        except SearchEngineError as exc:
            if exc.status != 404:
                raise

    def _model(self, user: str) -> ModelData | None:
        version = self._artifacts.current(ALS_ARTIFACT)
        if version is None:
            return None
        files = {
            name: self._artifacts.read(ALS_ARTIFACT, version, name)
            for name in ("user_ids.json", "user_factors.npy", "history.json")
        }
        history: dict[str, Any] = msgspec.json.decode(files["history.json"])
        factors = user_factors(files, user)
        if factors is None and user not in history:
            return None
        return ModelData(ALS_ARTIFACT, version, factors, history.get(user))

    def export(self, user: str, now: dt.datetime) -> UserExport:
        self._refresh()
        linked = self.linked(user)
        query = self.records_query(user, linked)
        standing = self._registry.get(user) or UserPrivacy(user=user, updated_at="")
        affinity_raw = self._kv.get(user_affinity_key(user))
        return UserExport(
            user=user,
            exported_at=iso_utc(now, "milliseconds"),
            consent=standing.consent,
            erased_at=standing.erased_at,
            sessions=linked.sessions,
            clients=linked.clients,
            events=sorted(self._scan(self._events, query), key=lambda e: str(e.get("timestamp", ""))),
            queries=sorted(self._scan(self._queries, query), key=lambda q: str(q.get("timestamp", ""))),
            recommendations=sorted(
                self._scan(self._recommendations, query), key=lambda r: str(r.get("timestamp", ""))
            ),
            category_affinity=msgspec.json.decode(affinity_raw, type=dict[str, float])
            if affinity_raw
            else None,
            session_products={
                s: p for s in linked.sessions if (p := self._kv.recent(session_key(s), SESSION_KEEP))
            },
            model=self._model(user),
        )

    # --- erasing ------------------------------------------------------------------------------------

    def _redis(self, user: str, linked: Linked) -> int:
        keys = [user_affinity_key(user)] + [session_key(s) for s in linked.sessions]
        return self._kv.delete_matching(keys + search_page_patterns(user, linked.sessions))

    def _redact_models(self, user: str, now: dt.datetime) -> tuple[int, str]:
        """Versions redacted; the current one is republished (its successor is what the API loads)."""
        current = self._artifacts.current(ALS_ARTIFACT)
        redacted = 0
        republished = ""
        for version in self._artifacts.versions(ALS_ARTIFACT):
            metadata = self._artifacts.metadata(ALS_ARTIFACT, version)
            files = {name: self._artifacts.read(ALS_ARTIFACT, version, name) for name in metadata["files"]}
            changed = without_user(files, user)
            if changed is None:
                continue
            erasures = int(metadata.get("erasures", 0)) + 1
            if version == current:
                inherited = {k: v for k, v in metadata.items() if k not in ("name", "version", "files")}
                republished = self._artifacts.publish(
                    ALS_ARTIFACT,
                    {**files, **changed},
                    {
                        **inherited,
                        "erasures": erasures,
                        "redacted_from": version,
                        "redacted_at": iso_utc(now),
                    },
                )
            self._artifacts.redact(ALS_ARTIFACT, version, changed, {"erasures": erasures})
            redacted += 1
        return redacted, republished

    def _canary_records(self, user: str, linked: Linked) -> int:
        """Canary records name the shopper only as a unit hashed with each canary's version (user,
        else session, as assigned): every version's units of the user and their sessions."""
        engine = self._canary_engine
        if engine is None or not engine.index_exists(CANARY_INDEX):
            return 0
        engine.refresh(CANARY_INDEX)  # the erasure's settling wait covers the canary's batches too
        found = engine.search(
            CANARY_INDEX,
            {"size": 0, "aggs": {"versions": {"terms": {"field": "canary_version", "size": 10_000}}}},
        )
        versions = [b["key"] for b in found.aggregations.get("versions", {}).get("buckets", [])]
        units = [unit_of(v, subject) for v in versions for subject in (user, *linked.sessions)]
        return sum(  # a terms query takes at most 65,536 values
            delete_by_query(
                engine, CANARY_INDEX, {"terms": {"unit": units[start : start + UNITS_PER_DELETE]}}
            )
            for start in range(0, len(units), UNITS_PER_DELETE)
        )

    def erase(self, user: str, now: dt.datetime) -> ErasureReceipt:
        stores: list[StoreReceipt] = []

        def step(store: str, run: Callable[[], StoreReceipt]) -> None:
            try:
                stores.append(run())
            except (SearchEngineError, CacheError, RecordStoreError, OSError) as exc:
                log.error("erasure step failed", extra={"store": store, "user": user, "error": str(exc)})
                stores.append(StoreReceipt(store, 0, error=str(exc)))

        recorded = self._registry.record_erasure(user, now)  # first: see the module's docstring
        # A search the API logged just before the erasure may still sit in a worker's write buffer
        # (flushed every 250 ms): the erasure waits for it to land before it looks.
        time.sleep(self._settle_s)
        self._refresh()
        linked = self.linked(user)
        query = self.records_query(user, linked)
        detail = f"{len(linked.sessions)} sessions, {len(linked.clients)} clients"
        if linked.truncated:
            detail += f" (more than {MAX_LINKED_IDS}: only the user's own records beyond)"

        def records(index: str, note: str = "") -> StoreReceipt:
            return StoreReceipt(index, delete_by_query(self._engine, index, query), note)

        step(self._events, lambda: records(self._events, detail))
        step(self._queries, lambda: records(self._queries))
        step(self._recommendations, lambda: records(self._recommendations))
        step(
            CANARY_INDEX,
            lambda: StoreReceipt(CANARY_INDEX, self._canary_records(user, linked), "by hashed unit"),
        )
        step(
            "redis",
            lambda: StoreReceipt("redis", self._redis(user, linked), "features, sessions, cached pages"),
        )

        def models() -> StoreReceipt:
            redacted, republished = self._redact_models(user, now)
            return StoreReceipt(
                f"artifacts/{ALS_ARTIFACT}",
                redacted,
                f"versions redacted; current republished as {republished}"
                if republished
                else "versions redacted",
            )

        step(f"artifacts/{ALS_ARTIFACT}", models)
        stores.append(StoreReceipt(self._registry.index, 0, f"erasure recorded at {recorded.erased_at}"))
        return ErasureReceipt(
            user=user,
            erased_at=recorded.erased_at or iso_utc(now, "milliseconds"),
            complete=all(s.error is None for s in stores),
            stores=stores,
        )

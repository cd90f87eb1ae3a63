"""Stage 5, personalize: the shopper's affinities (long-term from the features job, this session's
from the events API, per product from ALS) lift what they like, after the shared ranking."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.redis_keys import SESSION_KEEP, session_key, user_affinity_key
from quarry.search.candidates import from_docvalues
from quarry.search.ranking import RankedHit
from quarry.search.ranking import personalize as add_personal_term
from quarry.search.schemas import SearchRequest
from quarry.tracing import span

log = logging.getLogger("api.search")

ProductAffinity = Callable[[str | None, list[str]], dict[str, float]]


@dataclass(frozen=True, slots=True)
class PersonalSignals:
    """Per top-level category (user or session, whichever is larger) and per product (ALS)."""

    categories: dict[str, float] = field(default_factory=dict)
    products: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.categories or self.products)


class AffinityReader:
    """Personal category affinity: the user's long-term affinity (features job) and the session's
    share of recent engagement per category (events API), whichever is larger. The store is
    breaker-guarded (`GuardedStore`): an outage costs a request nothing but its personal term."""

    def __init__(self, store: KeyValueStore, engine: SearchEngine, alias: str) -> None:
        self._store = store
        self._engine = engine
        self._alias = alias

    def get(self, user_id: str | None, session_id: str | None = None) -> dict[str, float]:
        merged = self._user(user_id)
        for department, share in self._session(session_id).items():
            merged[department] = max(merged.get(department, 0.0), share)
        return merged

    def _session(self, session_id: str | None) -> dict[str, float]:
        if not session_id:
            return {}
        try:
            recent = self._store.recent(session_key(session_id), SESSION_KEEP)
        except CacheError:
            return {}
        if not recent:
            return {}
        body = {
            "size": len(recent),
            "_source": False,
            "stored_fields": "_none_",
            "docvalue_fields": ["product_id", "category_lvl1"],
            "query": {"terms": {"product_id": recent}},
        }
        try:
            found = self._engine.search(self._alias, body)
        except SearchEngineError as exc:  # personalization is optional: rank without it
            log.warning("session affinity unavailable", extra={"error": str(exc)})
            return {}
        department = {h.id: str(h.source.get("category_lvl1") or "") for h in map(from_docvalues, found.hits)}
        counts: dict[str, int] = {}
        for product in recent:
            if name := department.get(product):
                counts[name] = counts.get(name, 0) + 1
        return {d: n / len(recent) for d, n in counts.items()}

    def _user(self, user_id: str | None) -> dict[str, float]:
        if not user_id:
            return {}
        try:
            raw = self._store.get(user_affinity_key(user_id))
        except CacheError:
            return {}
        if raw is None:
            return {}
        try:
            return msgspec.json.decode(raw, type=dict[str, float])
        except msgspec.DecodeError:
            return {}


class Personalizer:
    def __init__(self, affinity: AffinityReader, product_affinity: ProductAffinity | None = None) -> None:
        self._affinity = affinity
        self._products = product_affinity or (lambda user, products: {})

    def signals(self, request: SearchRequest, product_ids: list[str]) -> PersonalSignals:
        """Nothing for an empty window (no features to fetch) or a request that opted out."""
        if not product_ids:
            return PersonalSignals()
        with span("personalization.features") as features:
            signals = PersonalSignals()
            if request.personalize:
                categories = self._affinity.get(request.user_id, request.session_id)
                products = self._products(request.user_id, product_ids) if request.user_id else {}
                signals = PersonalSignals(categories, products)
            features.set_attribute("quarry.personalized", bool(signals))
        return signals

    def personalize(self, ranked: list[RankedHit], signals: PersonalSignals) -> list[RankedHit]:
        return add_personal_term(ranked, signals.categories, signals.products)

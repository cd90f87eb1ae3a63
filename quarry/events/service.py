"""Event ingestion straight into OpenSearch, acknowledged only once stored.

Why OpenSearch and not a Redis Stream first: OpenSearch acknowledges a bulk request only after its
translog is fsynced (`index.translog.durability: request`, set in mappings/ubi_events.json), so a
202 means the events survive a crash of the API, of OpenSearch, or both; one durable hop instead of
two, and no consumer to run, monitor and replay. The cost is ingestion latency when OpenSearch is
slow or down: then the API answers 503 and clients retry, which is safe because `event_id` is the
document id and writes use `op_type=create` (a re-sent event is a 409: counted as a duplicate,
never stored twice).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from quarry.acting_for import ActingFor
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import SearchEngine, SearchEngineError, index_action
from quarry.bulk import send_with_retry
from quarry.events.consent import private_event
from quarry.events.schemas import EventError, EventsAccepted
from quarry.events.validation import (
    STANDARD_ACTIONS,
    BatchRejectedError,
    ValidEvent,
    events_of,
    validate_batch,
)
from quarry.metrics import EVENT_USER_QUERIES, EVENTS
from quarry.privacy import ALLOWED, Consent, ShopperPrivacy
from quarry.query_texts import LoggedQueries
from quarry.redis_keys import SESSION_KEEP, SESSION_TTL_S, session_key
from quarry.tracing import span
from quarry.ubi import UbiLayout, events_index, point_write_index, ubi_timestamp

log = logging.getLogger("api.events")
APPLICATION = "quarry"
CONFLICT = 409


class EventsNotStoredError(RuntimeError):
    """OpenSearch refused or lost part of a valid batch: the client should retry it whole."""


def ubi_document(
    valid: ValidEvent, received_at: dt.datetime, logged_query: str | None = None
) -> dict[str, Any]:
    """The UBI 1.3 event as stored: every field the client sent (no nulls), the object and position
    nested as the spec has them, top-level copies of the ids Quarry filters on, and `user_query` from
    the query log (`logged_query`) when the client sent none."""
    event = valid.event
    attributes: dict[str, Any] = dict(event.event_attributes or {})
    if valid.object_id is not None:
        attributes["object"] = {
            **(attributes.get("object") or {}),
            "object_id": valid.object_id,
            "object_id_field": valid.object_id_field,
        }
    if valid.ordinal is not None:
        attributes["position"] = {**(attributes.get("position") or {}), "ordinal": valid.ordinal}
    if event.session_id is not None:
        attributes.setdefault("session_id", event.session_id)
    if event.attributes:
        attributes["attributes"] = event.attributes
    document: dict[str, Any] = {
        "application": event.application or APPLICATION,
        "event_id": valid.event_id,
        "action_name": event.action_name,
        "query_id": event.query_id,
        "session_id": event.session_id,
        "client_id": event.client_id,
        "user_id": event.user_id,
        "user_query": event.user_query if event.user_query is not None else logged_query,
        "page_id": event.page_id,
        "object_id": valid.object_id,
        "object_id_field": valid.object_id_field,
        "timestamp": ubi_timestamp(valid.timestamp),
        "received_at": ubi_timestamp(received_at),
        "message_type": event.message_type or "EVENT",
        "message": event.message,
        "event_attributes": attributes or None,
        "extra_info": event.extra_info,
        "extra_info_type": event.extra_info_type,
    }
    stored = {name: value for name, value in document.items() if value is not None}
    return {**valid.extras, **stored}


SESSION_ACTIONS = frozenset({"view", "click", "add_to_cart", "purchase"})


class EventService:
    def __init__(
        self,
        engine: SearchEngine,
        max_age_days: int | None,
        extra_actions: str,
        *,
        privacy: ShopperPrivacy,
        max_retries: int = 3,
        initial_backoff_s: float = 0.1,
        store: KeyValueStore | None = None,
        layout: UbiLayout | None = None,
        logged_queries: LoggedQueries | None = None,
    ) -> None:
        """`privacy`: required, so that no path stores a raw id (docs/privacy.md)."""
        self.privacy = privacy
        self.engine = engine
        self.logged_queries = logged_queries
        self.layout = layout
        self.store = store
        self.session_update_failures = 0
        # None: a replay of old logs (pipelines/events_replay.py), whose events may be of any age.
        self.max_age = dt.timedelta(days=max_age_days) if max_age_days is not None else None
        self.actions = STANDARD_ACTIONS | frozenset(a.strip() for a in extra_actions.split(",") if a.strip())
        self.max_retries = max_retries
        self.initial_backoff_s = initial_backoff_s
        self._known_indices: set[str] = set()
        self._write_index: str | None = None

    def _ensure_index(self, name: str) -> None:
        if name in self._known_indices:
            return
        if self.layout is not None:
            self.layout.ensure()  # the template must exist before a daily index is created
        if not self.engine.index_exists(name):
            try:
                self.engine.create_index(name, {})  # settings, mappings and alias come from the template
            except SearchEngineError as exc:
                if exc.status != 400 or "already_exists" not in str(exc):
                    raise
        self._known_indices.add(name)

    def _follow_today(self, now: dt.datetime) -> None:
        """Direct writers (Data Prepper, the UBI plugin) append to the `ubi_events` alias, whose write
        index must be today's: checked once per batch against the day this process last pointed it
        at, so the first batch after midnight moves it (once per process and day, not per event)."""
        today = events_index(now.date())
        if self._write_index != today:
            self._ensure_index(today)
            point_write_index(self.engine, today)
            self._write_index = today

    def ingest(self, body: Any, *, acting: ActingFor, consent: Consent = ALLOWED) -> EventsAccepted:
        """`body`: the decoded request, in any shape `events_of` accepts; `acting`: whose events the
        sender may record (api/security/users.py); `consent`: the request's `Quarry-Consent`."""
        events = events_of(body)
        with span("events.ingest", {"quarry.events": len(events)}) as ingest:
            accepted = self._ingest(events, acting, consent)
            ingest.set_attributes(
                {"quarry.events.accepted": accepted.accepted, "quarry.events.duplicates": accepted.duplicates}
            )
            return accepted

    def _ingest(self, raw_events: list[Any], acting: ActingFor, consent: Consent) -> EventsAccepted:
        now = dt.datetime.now(dt.UTC)
        try:
            with span("events.validate"):
                validated = validate_batch(raw_events, now, self.max_age, self.actions, acting)
        except ValueError:
            EVENTS.labels("rejected").inc(len(raw_events))
            raise
        events, consents = [], []
        for valid in validated:
            kept, allowed = private_event(valid, self.privacy, consent)
            events.append(kept)
            consents.append(allowed)
        self._follow_today(now)
        texts = self._logged_texts(events)
        items = []
        for valid in events:
            index = events_index(valid.timestamp.date())
            self._ensure_index(index)
            document = ubi_document(valid, now, texts.get(valid.event.query_id or ""))
            items.append((valid.event_id, index_action(index, valid.event_id, document, op_type="create")))
        stored, _, failures = send_with_retry(
            self.engine.bulk, items, self.max_retries, self.initial_backoff_s
        )
        duplicates = sum(1 for f in failures if f.status == CONFLICT)
        refused = [
            f for f in failures if f.status is not None and 400 <= f.status < 500 and f.status != CONFLICT
        ]
        lost = [f for f in failures if f.status != CONFLICT and f not in refused]
        EVENTS.labels("accepted").inc(stored)
        EVENTS.labels("duplicate").inc(duplicates)
        if refused:
            EVENTS.labels("rejected").inc(len(refused))
        if lost:
            EVENTS.labels("failed").inc(len(lost))
        if refused and not lost:
            # What validation let through and the mapping refused: resending would be refused again,
            # so it is a 422 naming the events, not a 503 asking for a retry.
            position = {valid.event_id: index for index, valid in enumerate(events)}
            log.warning(
                "events refused at storage", extra={"events": len(refused), "first_reason": refused[0].reason}
            )
            raise BatchRejectedError(
                [
                    EventError(index=position.get(f.doc_id, -1), event_id=f.doc_id, reason=f.reason)
                    for f in refused
                ],
                f"{len(refused)} of {len(items)} events were refused at storage; the other {stored} were "
                "stored (sent again, they count as duplicates)",
            )
        if lost:
            log.error("events not stored", extra={"events": len(lost), "first_reason": lost[0].reason})
            raise EventsNotStoredError(
                f"{len(lost)} of {len(items)} events were not stored ({lost[0].reason}); "
                "retry the whole batch: stored events will count as duplicates"
            )
        self._remember_sessions([v for v, c in zip(events, consents, strict=True) if c.personalization])
        deidentified = sum(1 for c in consents if not c.tracking)
        return EventsAccepted(accepted=stored, duplicates=duplicates, deidentified=deidentified)

    def _logged_texts(self, events: list[ValidEvent]) -> dict[str, str]:
        """`user_query` of the searches the batch's events name without one of their own. An event
        whose search is not found is stored without it, counted as `unknown`, and filled later by
        `make events-fill-queries` (the search may still sit in another worker's write buffer)."""
        named = [v.event.query_id for v in events if v.event.query_id and v.event.user_query is None]
        sent = sum(1 for v in events if v.event.query_id and v.event.user_query is not None)
        if sent:
            EVENT_USER_QUERIES.labels("client").inc(sent)
        if not named:
            return {}
        texts = self.logged_queries.texts(named) if self.logged_queries is not None else {}
        found = sum(1 for query_id in named if query_id in texts)
        EVENT_USER_QUERIES.labels("query_log").inc(found)
        if found < len(named):
            EVENT_USER_QUERIES.labels("unknown").inc(len(named) - found)
        return texts

    def _remember_sessions(self, events: list[ValidEvent]) -> None:
        """Session signals: the products a session engaged with, newest first, for the search boost.
        Best effort: the events are already stored, so a Redis failure is counted, not raised."""
        if self.store is None:
            return
        recent: dict[str, list[str]] = {}
        for valid in sorted(events, key=lambda v: v.timestamp):
            session = valid.event.session_id
            if session and valid.object_id and valid.event.action_name in SESSION_ACTIONS:
                recent.setdefault(session, []).append(valid.object_id)
        try:
            self.store.push_recent(
                {session_key(s): products for s, products in recent.items()}, SESSION_KEEP, SESSION_TTL_S
            )
        except CacheError as exc:
            self.session_update_failures += 1
            log.warning("session signals not updated", extra={"sessions": len(recent), "error": str(exc)})

from __future__ import annotations

from typing import Any

import msgspec


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    """One behaviour event as clients send it (see docs/events.md)."""

    event_id: str
    action_name: str
    object_id: str
    timestamp: str
    user_id: str | None = None
    client_id: str | None = None
    session_id: str | None = None
    query_id: str | None = None
    position: int | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class EventBatch(msgspec.Struct):
    """Each event is checked against `EventIn` one by one (api/events/validation.py), so that every
    bad event of a batch is reported with its index, not only the first one the decoder meets."""

    events: list[Any]


class EventsAccepted(msgspec.Struct):
    accepted: int
    duplicates: int


class EventError(msgspec.Struct):
    index: int
    event_id: str | None
    reason: str

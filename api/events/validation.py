"""Every rule an event must pass. A batch is judged whole: all errors are collected, with the event's
index, so a client can fix its batch in one round trip."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec

from api.events.schemas import EventError, EventIn

STANDARD_ACTIONS = frozenset({"impression", "click", "view", "add_to_cart", "purchase"})
MAX_BATCH = 500
MAX_ID = 100
MAX_FUTURE = dt.timedelta(minutes=5)
_ID = re.compile(r"^[\w.:@/-]+$")


class BatchRejectedError(ValueError):
    """At least one event is invalid; nothing of the batch was stored."""

    def __init__(self, errors: list[EventError], detail: str) -> None:
        super().__init__(detail)
        self.errors = errors


def _parse_timestamp(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a time zone (Z or +hh:mm)")
    return parsed.astimezone(dt.UTC)


def _problems(event: EventIn, now: dt.datetime, max_age: dt.timedelta, actions: frozenset[str]) -> list[str]:
    problems = []
    for name in ("event_id", "object_id", "user_id", "client_id", "session_id", "query_id"):
        value = getattr(event, name)
        if value is None:
            continue
        if not value or len(value) > MAX_ID or not _ID.match(value):
            problems.append(f"{name} must be 1-{MAX_ID} characters of letters, digits and ._:@/-")
    if event.action_name not in actions:
        problems.append(f"action_name {event.action_name!r} is not one of {', '.join(sorted(actions))}")
    if not event.user_id and not event.client_id:
        problems.append("user_id or client_id is required")
    if event.position is not None and event.position < 1:
        problems.append("position is 1-based and must be at least 1")
    try:
        timestamp = _parse_timestamp(event.timestamp)
    except ValueError as exc:
        problems.append(f"timestamp is not ISO 8601 with a time zone: {exc}")
    else:
        if timestamp > now + MAX_FUTURE:
            problems.append("timestamp is more than 5 minutes in the future")
        elif timestamp < now - max_age:
            problems.append(f"timestamp is older than {max_age.days} days")
    return problems


def validate_batch(
    raw_events: list[Any], now: dt.datetime, max_age: dt.timedelta, actions: frozenset[str]
) -> list[tuple[EventIn, dt.datetime]]:
    if not 1 <= len(raw_events) <= MAX_BATCH:
        raise BatchRejectedError(
            [], f"a batch holds 1 to {MAX_BATCH} events; this one holds {len(raw_events)}"
        )
    valid: list[tuple[EventIn, dt.datetime]] = []
    errors: list[EventError] = []
    for index, raw in enumerate(raw_events):
        try:
            event = msgspec.convert(raw, EventIn, strict=True)
        except msgspec.ValidationError as exc:
            errors.append(EventError(index=index, event_id=_event_id(raw), reason=str(exc)))
            continue
        problems = _problems(event, now, max_age, actions)
        if problems:
            errors.append(EventError(index=index, event_id=event.event_id, reason="; ".join(problems)))
        else:
            valid.append((event, _parse_timestamp(event.timestamp)))
    if errors:
        raise BatchRejectedError(
            errors, f"{len(errors)} of {len(raw_events)} events are invalid; nothing was stored"
        )
    return valid


def _event_id(raw: Any) -> str | None:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return event_id if isinstance(event_id, str) else None

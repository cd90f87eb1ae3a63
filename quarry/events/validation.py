"""Every rule an event must pass. A batch is judged whole: all errors are collected, every reason of
every bad event with its index, so a client can fix its batch in one round trip.

The shape is UBI 1.3's (docs/events.md): `action_name` may be any name, `user_id` and `event_id` are
optional, the product sits in `event_attributes.object.object_id` and its rank in
`event_attributes.position.ordinal`, counted from 0 as the Search Relevance Workbench's click models
count ranks. Quarry's older flat fields (`object_id`, `position` counted from 1, `attributes`) are
still accepted, and must agree with the nested ones when both are sent. Fields
the spec does not name are allowed, as the spec's root allows them: they are stored as sent (in
`_source`, not indexed), never dropped."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import msgspec

from quarry.acting_for import ANY_USER, ActingFor, UserMismatchError
from quarry.events.schemas import EventAttributes, EventError, EventIn
from quarry.privacy import ConsentError, consent_of_event

# The actions that drive features (popularity, affinities, ALS, session signals); any other name is
# stored for analysis and ignored by them. QUARRY_EVENTS_EXTRA_ACTIONS adds to the list.
STANDARD_ACTIONS = frozenset({"impression", "click", "view", "add_to_cart", "purchase"})
MAX_BATCH = 500
MAX_ID = 100
MAX_OBJECT_ID = 256  # the spec's limit for object ids
MAX_TEXT = {
    "application": 100,
    "message_type": 100,
    "message": 1024,
    "user_query": 1000,
    "page_id": 1000,
    "extra_info_type": 100,
}
MAX_FUTURE = dt.timedelta(minutes=5)
# Epoch numbers below this are seconds, not milliseconds (1e11 ms is March 1973).
MIN_EPOCH_MS = 100_000_000_000
_ID = re.compile(r"[\w.:@/-]+")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")
IDS = ("event_id", "user_id", "client_id", "session_id", "query_id")
# Sent empty by clients that have no value (ubi.js sends `user_id: ""` for anonymous shoppers): absent.
EMPTY_IS_ABSENT = ("user_id", "client_id", "session_id", "query_id", "page_id")
# The type of every top-level field, checked one by one so that every wrong field is reported.
FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in msgspec.structs.fields(EventIn)}
ATTRIBUTE_TYPES: dict[str, Any] = {f.name: f.type for f in msgspec.structs.fields(EventAttributes)}
REQUIRED = tuple(f.name for f in msgspec.structs.fields(EventIn) if f.required)
FIELD_NAMES = frozenset(FIELD_TYPES)


# Set by Quarry on every stored event; a client's value would be overwritten, so it is refused.
SET_BY_QUARRY = frozenset({"received_at"})


# Empty keys fail at storage, and a dot makes OpenSearch read a key as a path into mapped fields
# ("position.ordinal": "abc" lands on an integer field).
_BAD_KEY = re.compile(r"\A\s*\Z|\.")
# The parts of an event whose keys the client chooses; every other named field has no keys or fixed ones.
FREE_FORM = frozenset({"event_attributes", "extra_info", "attributes"})
FIXED_FIELDS = FIELD_NAMES - FREE_FORM


def key_problems(value: Any, path: str) -> list[str]:
    """Object keys OpenSearch cannot store as sent (empty, or with a dot): an event holding one would
    fail at storage, after validation, or write into a mapped field it did not name."""
    problems: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if _BAD_KEY.search(key):
                problems.append(
                    f"{path} has a key OpenSearch cannot store as sent (empty, or with a dot): {key!r}"
                )
            elif isinstance(inner, dict | list):
                problems += key_problems(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for inner in value:
            if isinstance(inner, dict | list):
                problems += key_problems(inner, path)
    return problems


def event_key_problems(raw: dict[str, Any]) -> list[str]:
    """`key_problems` of the parts of an event the spec leaves open: fields it does not name, and the
    free-form objects (the named fields' own keys are fine by definition)."""
    open_names = raw.keys() - FIXED_FIELDS
    if not open_names:
        return []
    return key_problems({name: raw[name] for name in open_names}, "the event")


class BatchRejectedError(ValueError):
    """At least one event is invalid; nothing of the batch was stored."""

    def __init__(self, errors: list[EventError], detail: str) -> None:
        super().__init__(detail)
        self.errors = errors


class ValidEvent(msgspec.Struct, frozen=True):
    """An accepted event with what its fields resolve to: the id it is stored under, the product it
    concerns, its rank (0-based, as `event_attributes.position.ordinal` is stored) and its time in
    UTC."""

    event: EventIn
    extras: dict[str, Any]  # fields the spec does not name, stored as sent
    event_id: str
    object_id: str | None
    object_id_field: str | None
    ordinal: int | None
    timestamp: dt.datetime


def events_of(body: Any) -> list[Any]:
    """The events of a request body: a bare JSON array (ubi.js, Data Prepper), Quarry's
    `{"events": [...]}` envelope, or one event object."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        if set(body) == {"events"}:
            events = body["events"]
            if not isinstance(events, list):
                raise BatchRejectedError([], "`events` must be a list of events")
            return events
        return [body]
    raise BatchRejectedError(
        [], f"expected a JSON array of events or an event object, got {type(body).__name__}"
    )


def parse_timestamp(value: str | int) -> dt.datetime:
    """ISO 8601 with a time zone, or epoch milliseconds (what Java clients and Data Prepper send)."""
    if isinstance(value, int):
        if value < MIN_EPOCH_MS:
            raise ValueError("an epoch timestamp must be in milliseconds; this one looks like seconds")
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a time zone (Z or +hh:mm)")
    return parsed.astimezone(dt.UTC)


def derived_event_id(raw: dict[str, Any]) -> str:
    """The id of an event sent without one: a hash of its content, so a client's retry of the same
    event is the same document (a duplicate), while two events that differ in anything are two."""
    canonical = msgspec.json.encode(raw, order="sorted")
    return "ubi-" + hashlib.sha256(canonical).hexdigest()[:32]


def _field_problems(
    raw: dict[str, Any], types: dict[str, Any], path: str, keep_unknown: bool
) -> tuple[list[str], dict[str, Any]]:
    """Every field of `raw` whose value is not of its type, and `raw` without them (and, unless
    `keep_unknown`, without the fields `types` does not name)."""
    problems: list[str] = []
    sound: dict[str, Any] = {}
    for name, value in raw.items():
        kind = types.get(name)
        if kind is None:
            if keep_unknown:
                sound[name] = value
            continue
        try:
            msgspec.convert(value, kind, strict=True)
        except msgspec.ValidationError as exc:
            problems.append(f"`{path}{name}`: {exc}")
        else:
            sound[name] = value
    return problems, sound


def _shape_problems(raw: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Every field of the wrong type, and the event without them (and without fields the spec does
    not name), whose values are then checked too: a client learns all that is wrong at once."""
    problems = [f"missing required field `{name}`" for name in REQUIRED if name not in raw]
    problems += [f"`{name}` is set by Quarry" for name in SET_BY_QUARRY if name in raw]
    problems += event_key_problems(raw)
    present = {name: value for name, value in raw.items() if not (name in EMPTY_IS_ABSENT and value == "")}
    found, sound = _field_problems(present, FIELD_TYPES, "", keep_unknown=False)
    problems += found
    attributes = sound.get("event_attributes")
    if isinstance(attributes, dict):
        found, sound["event_attributes"] = _field_problems(
            attributes, ATTRIBUTE_TYPES, "event_attributes.", keep_unknown=True
        )
        problems += found
    return problems, sound


class Decoded(msgspec.Struct, frozen=True):
    """An event whose shape is right (or made right by dropping its faulty fields), with its
    `event_attributes` decoded once."""

    event: EventIn
    attributes: EventAttributes


def _decoded(raw: dict[str, Any]) -> tuple[list[str], Decoded | None]:
    """The event and its shape's problems. A sound event decodes in one step (the common case, and
    the fast one); only a faulty one is taken apart field by field."""
    if not SET_BY_QUARRY & raw.keys() and not event_key_problems(raw):
        try:
            return [], _decode(raw)
        except msgspec.ValidationError:
            pass
    problems, sound = _shape_problems(raw)
    if not all(name in sound for name in REQUIRED):
        return problems, None
    return problems, _decode(sound)


def _decode(raw: dict[str, Any]) -> Decoded:
    event = msgspec.convert(raw, EventIn, strict=True)
    blanks = {name: None for name in EMPTY_IS_ABSENT if getattr(event, name) == ""}
    if blanks:
        event = msgspec.structs.replace(event, **blanks)
    return Decoded(event, msgspec.convert(event.event_attributes or {}, EventAttributes, strict=True))


def _value_problems(
    raw: dict[str, Any],
    decoded: Decoded,
    now: dt.datetime,
    max_age: dt.timedelta | None,
    feature_actions: frozenset[str],
    acting: ActingFor,
) -> tuple[list[str], ValidEvent | None]:
    problems = []
    event, obj, position = decoded.event, decoded.attributes.object, decoded.attributes.position
    user_ignored = False
    if event.user_id is not None:
        try:
            user = acting.user_for(event.user_id)
        except UserMismatchError as exc:
            problems.append(str(exc))
        else:
            if user is None:  # stored as the session's event (docs/security.md#acting-for-a-user)
                event, user_ignored = msgspec.structs.replace(event, user_id=None), True
    try:
        consent_of_event(event.event_attributes)
    except ConsentError as exc:
        problems.append(str(exc))
    nested_id = obj.object_id if obj is not None else None
    object_id = str(nested_id) if nested_id is not None else None
    if event.object_id is not None and object_id is not None and event.object_id != object_id:
        problems.append("object_id and event_attributes.object.object_id differ")
    object_id = object_id or event.object_id
    for name in IDS:
        value = getattr(event, name)
        if value is not None and (not value or len(value) > MAX_ID or not _ID.fullmatch(value)):
            problems.append(f"{name} must be 1-{MAX_ID} characters of letters, digits and ._:@/-")
    if object_id is not None and (len(object_id) > MAX_OBJECT_ID or not _PRINTABLE.fullmatch(object_id)):
        problems.append(f"object_id must be 1-{MAX_OBJECT_ID} printable characters")
    for name, limit in MAX_TEXT.items():
        value = getattr(event, name)
        if value is not None and len(value) > limit:
            problems.append(f"{name} must be at most {limit} characters")
    if (
        not event.action_name
        or len(event.action_name) > MAX_ID
        or not _PRINTABLE.fullmatch(event.action_name)
    ):
        problems.append(f"action_name must be 1-{MAX_ID} printable characters")
    elif event.action_name in feature_actions and object_id is None:
        problems.append(f"a {event.action_name} event needs the product: event_attributes.object.object_id")
    if not (event.user_id or event.client_id or event.session_id):
        problems.append(
            "user_id counts only from a key with the server scope or with an X-User-Token "
            "(docs/security.md#acting-for-a-user): send client_id or session_id"
            if user_ignored
            else "one of client_id, user_id or session_id is required"
        )
    for name in ("session_id", "attributes"):
        flat, nested = getattr(event, name), getattr(decoded.attributes, name)
        if flat is not None and nested is not None and flat != nested:
            problems.append(f"{name} and event_attributes.{name} differ")
    ordinal = position.ordinal if position is not None else None
    if ordinal is not None and ordinal < 0:
        problems.append(
            "event_attributes.position.ordinal is 0-based (the first result is 0) and must be at least 0"
        )
    if event.position is not None:
        if event.position < 1:
            problems.append("position is 1-based (the first result is 1) and must be at least 1")
        elif ordinal is None:
            ordinal = event.position - 1
        elif ordinal != event.position - 1:
            problems.append(
                "position (1-based) and event_attributes.position.ordinal (0-based) name different ranks"
            )
    timestamp = None
    try:
        timestamp = parse_timestamp(event.timestamp)
    except (ValueError, OverflowError, OSError) as exc:
        problems.append(f"timestamp is not ISO 8601 with a time zone or epoch milliseconds: {exc}")
    else:
        if timestamp > now + MAX_FUTURE:
            problems.append("timestamp is more than 5 minutes in the future")
        elif max_age is not None and timestamp < now - max_age:
            problems.append(f"timestamp is older than {max_age.days} days")
    if problems or timestamp is None:
        return problems, None
    return [], ValidEvent(
        event=event,
        extras={name: raw[name] for name in raw.keys() - FIELD_NAMES},
        event_id=event.event_id or derived_event_id(raw),
        object_id=object_id,
        object_id_field=(obj.object_id_field if obj is not None else None)
        or event.object_id_field
        or ("product_id" if object_id else None),
        ordinal=ordinal,
        timestamp=timestamp,
    )


def validate_batch(
    raw_events: list[Any],
    now: dt.datetime,
    max_age: dt.timedelta | None,
    feature_actions: frozenset[str],
    acting: ActingFor = ANY_USER,
) -> list[ValidEvent]:
    """`max_age`: None for a replay of old logs (docs/events.md#replaying-old-events). `acting`: the
    users the sender may attribute events to; other users' ids are dropped or refused."""
    if not 1 <= len(raw_events) <= MAX_BATCH:
        raise BatchRejectedError(
            [], f"a batch holds 1 to {MAX_BATCH} events; this one holds {len(raw_events)}"
        )
    valid: list[ValidEvent] = []
    errors: list[EventError] = []
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            errors.append(
                EventError(
                    index=index, event_id=None, reason=f"Expected `object`, got `{type(raw).__name__}`"
                )
            )
            continue
        problems, decoded = _decoded(raw)
        accepted = None
        if decoded is not None:
            found, accepted = _value_problems(raw, decoded, now, max_age, feature_actions, acting)
            problems += found
        if problems or accepted is None:
            errors.append(EventError(index=index, event_id=_event_id(raw), reason="; ".join(problems)))
        else:
            valid.append(accepted)
    if errors:
        raise BatchRejectedError(
            errors, f"{len(errors)} of {len(raw_events)} events are invalid; nothing was stored"
        )
    return valid


def _event_id(raw: dict[str, Any]) -> str | None:
    event_id = raw.get("event_id")
    return event_id if isinstance(event_id, str) else None

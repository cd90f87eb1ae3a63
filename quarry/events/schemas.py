"""What `POST /v1/events` accepts: UBI 1.3 events as ubi.js, Data Prepper and curl send them, plus
Quarry's older flat shape (docs/events.md)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# Position numbers go into `integer` fields (mappings/ubi_events.json): larger ones would fail at
# storage, after the event was accepted.
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Coordinate = Annotated[float, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class EventObject(msgspec.Struct, frozen=True):
    """`event_attributes.object`: what the event was about (for Quarry, usually a product). The spec
    allows other keys too; they are stored as sent."""

    object_id: str | int | None = None
    object_id_field: str | None = None
    internal_id: str | int | None = None
    name: str | None = None
    description: str | None = None
    object_detail: dict[str, Any] | None = None


class EventPoint(msgspec.Struct, frozen=True):
    x: Coordinate
    y: Coordinate


class EventPosition(msgspec.Struct, frozen=True):
    """`event_attributes.position`: where the object was shown: its rank (`ordinal`), or a point
    (the spec's `xy`, or the flat `x` and `y` of the UBI plugin's mapping)."""

    ordinal: Int32 | None = None
    xy: EventPoint | None = None
    x: Coordinate | None = None
    y: Coordinate | None = None
    page_depth: Int32 | None = None
    scroll_depth: Int32 | None = None
    trail: str | None = None


class EventAttributes(msgspec.Struct, frozen=True):
    """`event_attributes`: the keys with a meaning (and a mapping) are typed here; clients' own keys
    are allowed and stored as sent."""

    object: EventObject | None = None
    position: EventPosition | None = None
    session_id: str | None = None
    attributes: dict[str, Any] | None = None


class EventIn(msgspec.Struct, frozen=True):
    """One behaviour event. The UBI 1.3 fields, and Quarry's flat extensions (`event_id`, a top-level
    `object_id` and `position`, `attributes`) that older clients send."""

    action_name: str
    timestamp: str | int
    event_id: str | None = None
    application: str | None = None
    query_id: str | None = None
    session_id: str | None = None
    client_id: str | None = None
    user_id: str | None = None
    user_query: str | None = None
    page_id: str | None = None
    message_type: str | None = None
    message: str | None = None
    event_attributes: dict[str, Any] | None = None
    extra_info: dict[str, Any] | str | None = None
    extra_info_type: str | None = None
    object_id: str | None = None
    object_id_field: str | None = None
    position: Int32 | None = None
    attributes: dict[str, Any] | None = None


class EventsAccepted(msgspec.Struct, omit_defaults=True):
    accepted: int
    duplicates: int
    deidentified: int = 0
    """How many of the batch's events are kept without user, client and session ids because their
    shopper opted out of tracking (docs/privacy.md#consent)."""


class EventError(msgspec.Struct):
    index: int
    event_id: str | None
    reason: str

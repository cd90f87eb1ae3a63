"""Events as Quarry may keep them (docs/privacy.md): ids pseudonymized, and the shopper's consent
applied. An event whose shopper opted out of tracking is still stored, without anything that links
it to a person or to their other events, so it counts towards popularity and nothing else. One whose
shopper opted out of personalization keeps its ids and carries `event_attributes.consent`, which the
offline jobs read to leave it out of features and models."""

from __future__ import annotations

from typing import Any

import msgspec

from quarry.events.validation import ValidEvent
from quarry.privacy import Consent, ShopperPrivacy, consent_of_event

LINKING_ATTRIBUTES = ("session_id",)
"""Copies of linking ids inside `event_attributes` (ubi.js nests the session there)."""


def private_event(valid: ValidEvent, privacy: ShopperPrivacy, sent: Consent) -> tuple[ValidEvent, Consent]:
    """The event to store and the consent it was stored under. `sent`: the request's header."""
    event = valid.event
    asked = sent.and_(consent_of_event(event.event_attributes))
    shopper = privacy.shopper(event.user_id, event.client_id, asked)
    attributes: dict[str, Any] | None = event.event_attributes
    if not shopper.consent.tracking:
        attributes = {k: v for k, v in (attributes or {}).items() if k not in LINKING_ATTRIBUTES}
        event = msgspec.structs.replace(event, user_id=None, client_id=None, session_id=None)
    else:
        event = msgspec.structs.replace(event, user_id=shopper.user, client_id=shopper.client)
    if shopper.consent != Consent():
        attributes = {**(attributes or {}), "consent": msgspec.to_builtins(shopper.consent)}
    event = msgspec.structs.replace(event, event_attributes=attributes or None)
    return msgspec.structs.replace(valid, event=event), shopper.consent

"""Shoppers' ids at rest, and their consent (docs/privacy.md).

**Pseudonyms.** Every user and client id is replaced, where it enters Quarry, by a keyed hash of it
(HMAC-SHA256 under QUARRY_PSEUDONYM_KEY, 128 bits, `p1-<hex>`). Indices, Redis keys, models and logs
hold only the pseudonym: a copy of them without the key names nobody, while Quarry, which holds the
key, still finds a user's records to export or erase them. The hash is domain-separated, so a client
id and a user id that happen to be equal get different pseudonyms. Ids of Quarry's own traffic
(evaluation, benchmarks: `quarry-…`) keep that prefix in front of the pseudonym so that reports can
still leave them out, and never reveal more than that they are Quarry's.

The key is never rotated in place: a new key makes every stored record unreachable by its user's id.
A deployment that must rotate it re-keys the stores offline (docs/privacy.md#the-key).

**Consent.** A shopper may opt out of personalization, of tracking, or both: per request (the
`Quarry-Consent` header), per event (`event_attributes.consent`), or for good (the admin API, kept in
`<prefix>-privacy` and read by every API process and offline job).
"""

from __future__ import annotations

import hmac
import threading
from pathlib import Path
from typing import Any

import msgspec

from quarry.host_secrets import host_secret
from quarry.ubi import SYNTHETIC_USER_PREFIX

PSEUDONYM_VERSION = "p1"
KEY_FILE = "keys/pseudonym.key"
_USER_DOMAIN = b"user\x00"
_CLIENT_DOMAIN = b"client\x00"

CONSENT_HEADER = "Quarry-Consent"
NO_PERSONALIZATION = "no-personalization"
NO_TRACKING = "no-tracking"
CONSENT_TOKENS = (NO_PERSONALIZATION, NO_TRACKING)


def pseudonym_key(configured: str, var_dir: Path, create: bool = True) -> bytes:
    """QUARRY_PSEUDONYM_KEY (or its _FILE), which the API and every offline job of a deployment share;
    on one host a random one made once in the var folder."""
    return host_secret(configured, "QUARRY_PSEUDONYM_KEY", var_dir / KEY_FILE, create)


class Pseudonyms:
    """The keyed hash of user and client ids (one-shot `hmac.digest`: about a microsecond, so no
    cache is worth its memory)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:  # never the key: it would reach logs and tracebacks
        return "Pseudonyms(key=<hidden>)"

    def _hash(self, domain: bytes, raw: str) -> str:
        digest = hmac.digest(self._key, domain + raw.encode(), "sha256").hex()[:32]
        own = SYNTHETIC_USER_PREFIX if raw.startswith(SYNTHETIC_USER_PREFIX) else ""
        return f"{own}{PSEUDONYM_VERSION}-{digest}"

    def user(self, raw: str) -> str:
        return self._hash(_USER_DOMAIN, raw)

    def client(self, raw: str) -> str:
        return self._hash(_CLIENT_DOMAIN, raw)

    def user_or_none(self, raw: str | None) -> str | None:
        return None if raw is None else self.user(raw)

    def client_or_none(self, raw: str | None) -> str | None:
        return None if raw is None else self.client(raw)


class Consent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a shopper allows. Both default to allowed: consent for first-party search personalization
    is the shop's to collect, and the shop tells Quarry about an opt-out. An unknown field is refused:
    a misspelt opt-out silently ignored would track a shopper who asked not to be."""

    personalization: bool = True
    """Rank and recommend for this shopper from their history and session."""
    tracking: bool = True
    """Store this shopper's searches and events linked to them (user, client and session ids)."""

    def and_(self, other: Consent) -> Consent:
        """Both together: an opt-out from any source holds."""
        return Consent(
            personalization=self.personalization and other.personalization,
            tracking=self.tracking and other.tracking,
        )


ALLOWED = Consent()


class ConsentError(ValueError):
    """A consent header or an event's consent that Quarry cannot read: refused, never guessed."""


def consent_of_header(value: str | None) -> Consent:
    """`Quarry-Consent: no-personalization, no-tracking` (either or both). An unknown word is an
    error: silently ignoring a misspelt opt-out would track a shopper who asked not to be."""
    if value is None or not value.strip():
        return ALLOWED
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    unknown = [w for w in words if w not in CONSENT_TOKENS]
    if unknown:
        raise ConsentError(
            f"{CONSENT_HEADER}: unknown value {unknown[0]!r}; "
            f"use {' and/or '.join(CONSENT_TOKENS)}, comma-separated"
        )
    return Consent(personalization=NO_PERSONALIZATION not in words, tracking=NO_TRACKING not in words)


def consent_of_event(attributes: dict[str, Any] | None) -> Consent:
    """`event_attributes.consent`: `{"personalization": false, "tracking": false}`, either or both."""
    raw = (attributes or {}).get("consent")
    if raw is None:
        return ALLOWED
    try:
        return msgspec.convert(raw, Consent, strict=True)
    except msgspec.ValidationError as exc:
        raise ConsentError(
            f"event_attributes.consent must be an object of booleans personalization and tracking: {exc}"
        ) from exc


class UserPrivacy(msgspec.Struct, frozen=True, omit_defaults=True):
    """One user's standing consent and erasure, keyed by pseudonym in `<prefix>-privacy`."""

    user: str
    """The pseudonym."""
    updated_at: str
    personalization: bool = True
    tracking: bool = True
    erased_at: str | None = None
    """When the user's records were erased: offline jobs leave out any older record they still find
    (a late or replayed event, a backup), so the erased data never trains a model again."""

    @property
    def consent(self) -> Consent:
        return Consent(personalization=self.personalization, tracking=self.tracking)


def privacy_index(prefix: str) -> str:
    return f"{prefix}-privacy"


PRIVACY_PROPERTIES = {
    "user": {"type": "keyword"},
    "updated_at": {"type": "date"},
    "personalization": {"type": "boolean"},
    "tracking": {"type": "boolean"},
    "erased_at": {"type": "date"},
}


class ConsentView:
    """The standing opt-outs one process knows: a dict lookup on the request path, refreshed from the
    privacy index by a background thread (`ConsentRegistry`), never a network call per request."""

    def __init__(self) -> None:
        self._opted_out: dict[str, Consent] = {}
        self._lock = threading.Lock()

    def of(self, pseudonym: str | None) -> Consent:
        if pseudonym is None:
            return ALLOWED
        return self._opted_out.get(pseudonym, ALLOWED)

    def learn(self, records: list[UserPrivacy]) -> None:
        with self._lock:
            opted_out = dict(self._opted_out)
            for record in records:
                if record.consent == ALLOWED:
                    opted_out.pop(record.user, None)
                else:
                    opted_out[record.user] = record.consent
            self._opted_out = opted_out  # swapped whole: readers never see a half-applied batch

    def __len__(self) -> int:
        return len(self._opted_out)


class Shopper(msgspec.Struct, frozen=True):
    """Who a request or an event is about, as Quarry may keep it: pseudonyms, and what they allow."""

    user: str | None
    client: str | None
    consent: Consent


class ShopperPrivacy:
    """Where raw ids become pseudonyms and every source of consent meets: the API's search,
    recommendation and event routes and the replay of old event logs all go through it."""

    def __init__(self, pseudonyms: Pseudonyms, view: ConsentView) -> None:
        self.pseudonyms = pseudonyms
        self.view = view

    def shopper(self, user_id: str | None, client_id: str | None, consent: Consent = ALLOWED) -> Shopper:
        user = self.pseudonyms.user_or_none(user_id)
        return Shopper(user, self.pseudonyms.client_or_none(client_id), consent.and_(self.view.of(user)))

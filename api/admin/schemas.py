"""Bodies of the admin API for keys (docs/security.md#admin-api)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from quarry.access_lists import AccessEntry, AccessList
from quarry.api_keys import FilterValue, KeyInfo, Scope
from quarry.audit import AuditEntry


class NewKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """Who holds the key: a team, a partner, a service."""
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1)]
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    expires_in_days: Annotated[float, msgspec.Meta(gt=0, le=36_500)] | None = None
    """None: the key does not expire."""
    filters: dict[str, FilterValue] = msgspec.field(default_factory=dict)
    """Fixed filters every request with the key gets and cannot widen (brand, category, in_stock, …)."""
    search_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None
    recommend_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None


class Rotation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grace_hours: Annotated[float, msgspec.Meta(ge=0, le=24 * 90)] = 24.0
    """How long the replaced secret keeps working, so clients switch without an outage."""


class Issued(msgspec.Struct, frozen=True):
    """A new or rotated key: `token` is shown this once and stored only as a hash."""

    token: str
    key: KeyInfo

    def __repr__(self) -> str:  # never the token: it would reach logs and tracebacks
        return f"Issued({self.key.key_id}, token=<hidden>)"


class KeyList(msgspec.Struct, frozen=True):
    keys: list[KeyInfo]


class UserTokenSecret(msgspec.Struct, frozen=True):
    """What a shop's backend signs its shoppers' user tokens for this key with
    (docs/security.md#acting-for-a-user)."""

    key_id: str
    secret: str
    """base64url; HMAC-SHA256 key of the tokens. Rotating the API key changes it."""
    header: str = "X-User-Token"
    format: str = (
        "v1.<base64url user id>.<expiry, unix seconds>.<base64url HMAC-SHA256 of the first three parts>"
    )

    def __repr__(self) -> str:  # never the secret
        return f"UserTokenSecret({self.key_id}, secret=<hidden>)"


class NewAccessEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    list: AccessList
    """`deny`: 403 on every route but /health; `allow`: no per-address limits or abuse checks."""
    network: Annotated[str, msgspec.Meta(min_length=2, max_length=64)]
    """An IP address or a CIDR network (`203.0.113.7`, `198.51.100.0/24`, `2001:db8::/48`)."""
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    expires_in_hours: Annotated[float, msgspec.Meta(gt=0, le=24 * 365)] | None = None
    """None: until removed."""


class AccessEntries(msgspec.Struct, frozen=True):
    entries: list[AccessEntry]


class AuditEntries(msgspec.Struct, frozen=True):
    entries: list[AuditEntry]

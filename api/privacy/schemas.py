from __future__ import annotations

import msgspec

from quarry.user_data import ErasureReceipt, UserExport

__all__ = ["ConsentChange", "ErasureReceipt", "UserConsent", "UserExport"]


class ConsentChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A shopper's standing consent, as the shop's consent manager last recorded it."""

    personalization: bool
    tracking: bool


class UserConsent(msgspec.Struct, frozen=True):
    user: str
    """The pseudonym Quarry keeps the user's records under."""
    personalization: bool
    tracking: bool
    updated_at: str | None
    """None: never set (both allowed)."""
    erased_at: str | None

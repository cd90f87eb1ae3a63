from __future__ import annotations

import datetime as dt

from api.privacy.schemas import ConsentChange, UserConsent
from quarry.privacy import Consent, ConsentView, Pseudonyms, UserPrivacy
from quarry.privacy_registry import PrivacyRegistry
from quarry.user_data import ErasureReceipt, UserData, UserExport


def _shown(record: UserPrivacy) -> UserConsent:
    return UserConsent(
        record.user, record.personalization, record.tracking, record.updated_at, record.erased_at
    )


class ErasureIncompleteError(RuntimeError):
    """Some store could not be erased; the receipt says which. Erasure is idempotent: retry it."""

    def __init__(self, receipt: ErasureReceipt) -> None:
        failed = [s.store for s in receipt.stores if s.error is not None]
        super().__init__(f"the erasure did not reach {', '.join(failed)}; retry it (erasure is idempotent)")
        self.receipt = receipt


class UserPrivacyService:
    """The admin's view of one shopper: every route takes the id the shop knows and works on its
    pseudonym."""

    def __init__(
        self, pseudonyms: Pseudonyms, registry: PrivacyRegistry, view: ConsentView, data: UserData
    ) -> None:
        self.pseudonyms = pseudonyms
        self._registry = registry
        self._view = view
        self._data = data

    def pseudonym(self, user_id: str) -> str:
        return self.pseudonyms.user(user_id)

    def consent(self, user_id: str) -> UserConsent:
        user = self.pseudonym(user_id)
        record = self._registry.get(user)
        if record is None:
            return UserConsent(user, True, True, None, None)
        return _shown(record)

    def set_consent(self, user_id: str, change: ConsentChange) -> UserConsent:
        user = self.pseudonym(user_id)
        record = self._registry.set_consent(
            user, Consent(change.personalization, change.tracking), dt.datetime.now(dt.UTC)
        )
        self._view.learn([record])  # this process at once; the others within QUARRY_CONSENT_REFRESH_S
        return _shown(record)

    def export(self, user_id: str) -> UserExport:
        return self._data.export(self.pseudonym(user_id), dt.datetime.now(dt.UTC))

    def erase(self, user_id: str) -> ErasureReceipt:
        receipt = self._data.erase(self.pseudonym(user_id), dt.datetime.now(dt.UTC))
        if not receipt.complete:
            raise ErasureIncompleteError(receipt)
        return receipt

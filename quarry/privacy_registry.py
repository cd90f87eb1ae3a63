"""Standing consent and erasures, by pseudonym, in `<prefix>-privacy` (docs/privacy.md#consent).

The API reads them from memory (`ConsentView`), which a daemon thread keeps in step with the index;
a change made through one API process holds in the others within QUARRY_CONSENT_REFRESH_S. Offline
jobs read `TrainingExclusions` once per run.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.privacy import (
    PRIVACY_PROPERTIES,
    Consent,
    ConsentView,
    Pseudonyms,
    ShopperPrivacy,
    UserPrivacy,
    privacy_index,
    pseudonym_key,
)
from quarry.records import RecordIndex
from quarry.refresher import Refresher
from quarry.settings import Settings
from quarry.timestamps import iso_utc, parse_iso
from quarry.ubi import event_time

log = logging.getLogger("quarry.privacy")
_PAGE = 10000


class TrainingExclusions(msgspec.Struct, frozen=True):
    """What offline jobs leave out: every event of a user who opted out of personalization, and each
    erased user's events from before the erasure (their later events are new data)."""

    opted_out: frozenset[str] = frozenset()
    erased_at: dict[str, dt.datetime] = msgspec.field(default_factory=dict)

    def excludes_event(self, event: dict[str, Any]) -> bool:
        """A stored UBI event: its user's standing choice, or the consent the event itself carried."""
        consent = (event.get("event_attributes") or {}).get("consent") or {}
        if consent.get("personalization") is False:
            return True
        user = event.get("user_id")
        return self.excludes(str(user) if user else None, event_time(event.get("timestamp")))

    def excludes(self, user: str | None, at: dt.datetime | None) -> bool:
        if user is None:
            return False
        if user in self.opted_out:
            return True
        erased = self.erased_at.get(user)
        return erased is not None and (at is None or at <= erased)

    def __len__(self) -> int:
        return len(self.opted_out) + len(self.erased_at)


NO_EXCLUSIONS = TrainingExclusions()


class PrivacyRegistry:
    def __init__(self, engine: SearchEngine, index: str) -> None:
        self._records = RecordIndex(engine, index, PRIVACY_PROPERTIES)
        self.index = index

    def get(self, user: str) -> UserPrivacy | None:
        found = self._records.get(user)  # one record per pseudonym, under it as its id
        return msgspec.convert(found, UserPrivacy) if found else None

    def _put(self, record: UserPrivacy) -> UserPrivacy:
        self._records.put(record.user, msgspec.to_builtins(record))
        return record

    def set_consent(self, user: str, consent: Consent, now: dt.datetime) -> UserPrivacy:
        previous = self.get(user)
        return self._put(
            UserPrivacy(
                user=user,
                updated_at=iso_utc(now, "milliseconds"),
                personalization=consent.personalization,
                tracking=consent.tracking,
                erased_at=previous.erased_at if previous else None,
            )
        )

    def record_erasure(self, user: str, now: dt.datetime) -> UserPrivacy:
        """Kept after the erasure, by pseudonym only: the proof that it happened, and what keeps the
        erased data out of the next training."""
        previous = self.get(user)
        stamp = iso_utc(now, "milliseconds")
        consent = previous.consent if previous else Consent()
        return self._put(
            UserPrivacy(
                user=user,
                updated_at=stamp,
                personalization=consent.personalization,
                tracking=consent.tracking,
                erased_at=stamp,
            )
        )

    def all(self) -> list[UserPrivacy]:
        return [msgspec.convert(source, UserPrivacy) for source in self._records.all()]

    def changed_since(self, since: str | None) -> list[UserPrivacy]:
        """Everything when `since` is None."""
        if since is None:
            return self.all()
        body = {
            "size": _PAGE,
            "sort": [{"updated_at": "asc"}],
            "query": {"range": {"updated_at": {"gte": since}}},
        }
        return [msgspec.convert(source, UserPrivacy) for source in self._records.search(body)]

    def training_exclusions(self) -> TrainingExclusions:
        records = self.all()
        return TrainingExclusions(
            opted_out=frozenset(r.user for r in records if not r.personalization),
            erased_at={r.user: parse_iso(r.erased_at) for r in records if r.erased_at},
        )


class ConsentRefresher:
    """Keeps a `ConsentView` in step with the registry. A refresh reads what changed since the newest
    change it saw, with a margin for writes still being made visible. When the index does not answer
    the view keeps what it knew, and says so in the log."""

    MARGIN = dt.timedelta(seconds=30)

    def __init__(self, registry: PrivacyRegistry, view: ConsentView, interval_s: float) -> None:
        self._registry = registry
        self._view = view
        self._newest: str | None = None
        self._thread = Refresher("consent", self.refresh, interval_s)

    def refresh(self) -> int:
        since = None
        if self._newest is not None:
            since = iso_utc(parse_iso(self._newest) - self.MARGIN, "milliseconds")
        changed = self._registry.changed_since(since)
        self._view.learn(changed)
        if changed:
            self._newest = max(self._newest or "", *(r.updated_at for r in changed))
        return len(changed)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()


def offline_privacy(settings: Settings, engine: SearchEngine) -> tuple[ShopperPrivacy, PrivacyRegistry]:
    """What an offline job that takes in shoppers' data (an event replay) needs: the deployment's key
    (never a new one: records made under it would not be found) and the standing consent."""
    registry = PrivacyRegistry(engine, privacy_index(settings.security_indices_prefix))
    view = ConsentView()
    view.learn(registry.all())
    key = pseudonym_key(settings.pseudonym_key, settings.var_path, create=False)
    return ShopperPrivacy(Pseudonyms(key), view), registry


def training_exclusions(settings: Settings, engine: SearchEngine) -> TrainingExclusions:
    """For a job that builds personal features or models: who and what to leave out."""
    exclusions = PrivacyRegistry(
        engine, privacy_index(settings.security_indices_prefix)
    ).training_exclusions()
    log.info(
        "privacy exclusions loaded",
        extra={"opted_out": len(exclusions.opted_out), "erased": len(exclusions.erased_at)},
    )
    return exclusions

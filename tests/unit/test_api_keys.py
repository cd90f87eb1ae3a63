"""Issuing, verifying, rotating and revoking API keys, on the in-memory store (the same contract as
the real one: tests/integration/test_key_store_contract.py), with a clock the tests move."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from quarry.api_keys import (
    FILTER_KINDS,
    ApiKeys,
    FixedFilters,
    KeyConflictError,
    KeyStoreError,
    MemoryKeyStore,
    Stored,
    StoreReadNeededError,
    UnknownKeyError,
)

START = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


class Clock:
    """Wall time for expiry, and the monotonic seconds of the workers' memory, moved together."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def seconds(self) -> float:
        return (self.now - START).total_seconds()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def keys(store, clock) -> ApiKeys:
    return ApiKeys(store, clock=clock, cache_ttl_s=0)


def test_a_new_key_verifies_and_its_secret_is_never_stored(keys, store) -> None:
    issued = keys.create("storefront", ("search",), description="web shop")
    key_id, secret = issued.token.split(".")
    assert key_id.startswith("qk_") and len(key_id) == 15 and len(secret) >= 40
    assert keys.verify(issued.token) == issued.key
    stored = msgspec.json.encode(store.all())
    assert secret.encode() not in stored and issued.token.encode() not in stored
    assert issued.key.scopes == ("search",) and issued.key.owner == "storefront"


@pytest.mark.parametrize(
    "forged",
    ["", "qk_", "nodot", "qk_000000000000." + "s" * 43, "xx_abc.secret", "qk_abc." + "a" * 300],
)
def test_malformed_or_unknown_tokens_verify_as_nothing(keys, forged) -> None:
    keys.create("storefront", ("search",))
    assert keys.verify(forged) is None


def test_a_wrong_or_malformed_secret_for_a_real_key_is_refused(keys) -> None:
    issued = keys.create("storefront", ("search",))
    key_id, secret = issued.token.split(".")
    for forged in (
        f"{key_id}.{'x' * 43}",
        f"{key_id}.",
        f"{key_id}.{secret[:10]}",
        f"{key_id}.{secret}{'x' * 80}",
        f"{key_id.upper()}.{secret}",
        f"{key_id}x.{secret}",
        f" {issued.token}",
    ):
        assert keys.verify(forged) is None, forged
    assert keys.verify(issued.token) is not None


def test_a_worker_remembers_a_key_for_seconds_so_a_revocation_elsewhere_lands_within_them(
    store, clock
) -> None:
    here = remembering_keys(store, clock)
    there = remembering_keys(store, clock)
    issued = here.create("shop", ("search",))
    assert there.verify(issued.token) is not None  # remembered by `there` from now on
    here.revoke(issued.key.key_id)
    clock.now = START + dt.timedelta(seconds=9)
    assert there.verify(issued.token) is not None  # within the documented 10 s
    clock.now = START + dt.timedelta(seconds=10)
    assert there.verify(issued.token) is None


def test_a_taken_key_id_is_never_overwritten(keys, store, monkeypatch) -> None:
    first = keys.create("alice", ("admin",))
    monkeypatch.setattr("secrets.token_hex", lambda n: first.key.key_id.removeprefix("qk_"))
    with pytest.raises(KeyStoreError, match="no free key id"):
        keys.create("bob", ("search",))
    assert [k.owner for k in store.all()] == ["alice"] and keys.verify(first.token) is not None


def test_a_rotation_never_undoes_a_revocation_that_came_in_between(keys, store) -> None:
    issued = keys.create("backend", ("search",))
    stale = store.get(issued.key.key_id)
    assert stale is not None
    keys.revoke(issued.key.key_id)
    with pytest.raises(KeyConflictError):  # what a rotation that read before the revocation would write
        store.replace(stale.key, stale.version)
    with pytest.raises(ValueError, match="revoked"):
        keys.rotate(issued.key.key_id, grace=dt.timedelta(hours=1))
    assert keys.verify(issued.token) is None


def test_secrets_never_show_in_a_keys_printed_form(keys) -> None:
    issued = keys.create("shop", ("search",))
    shown = repr(issued) + repr(issued.key) + str(issued.key)
    assert issued.token.split(".")[1] not in shown and issued.key.secret_sha256 not in shown


def test_a_key_expires(keys, clock) -> None:
    issued = keys.create("partner", ("search",), expires_in=dt.timedelta(days=30))
    clock.now = START + dt.timedelta(days=29, hours=23)
    assert keys.verify(issued.token) is not None
    clock.now = START + dt.timedelta(days=30)
    assert keys.verify(issued.token) is None


def test_a_revoked_key_stops_working(keys) -> None:
    issued = keys.create("partner", ("search",))
    keys.revoke(issued.key.key_id)
    assert keys.verify(issued.token) is None
    assert keys.list() == []  # lists show keys that work
    assert keys.list(include_inactive=True)[0].revoked_at == "2026-11-30T12:00:00Z"


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(keys, clock) -> None:
    old = keys.create("backend", ("search", "events"))
    new = keys.rotate(old.key.key_id, grace=dt.timedelta(hours=1))
    assert new.token != old.token and new.key.key_id == old.key.key_id
    assert keys.verify(new.token) is not None and keys.verify(old.token) is not None
    clock.now = START + dt.timedelta(hours=1)
    assert keys.verify(old.token) is None
    assert keys.verify(new.token) is not None


def test_another_worker_accepts_a_rotated_secret_at_once(store, clock) -> None:
    """Workers remember verified keys for seconds; a secret they have not seen makes them read the key
    again instead of refusing it until their memory expires."""
    here, there = ApiKeys(store, clock=clock), ApiKeys(store, clock=clock)
    old = here.create("backend", ("search",))
    assert there.verify(old.token) is not None  # `there` now remembers the old record
    new = here.rotate(old.key.key_id, grace=dt.timedelta(hours=1))
    assert there.verify(new.token) is not None


def test_scopes_are_checked_and_kept_in_a_fixed_order(keys) -> None:
    issued = keys.create("ops", ("debug", "search", "admin"))
    assert issued.key.scopes == ("search", "admin", "debug")
    with pytest.raises(ValueError, match="unknown scopes"):
        keys.create("ops", ("search", "root"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one scope"):
        keys.create("ops", ())


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ({"brnad": ["Acme"]}, "unknown filter 'brnad'"),
        ({"brand": True}, "takes a list of names"),
        ({"brand": []}, "takes a list of names"),
        ({"in_stock": "yes"}, "takes true or false"),
        ({"price_max": -1.0}, "a number of at least 0"),
    ],
)
def test_a_keys_filters_must_be_known_and_well_typed(keys, filters, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        keys.create("partner", ("search",), filters=filters)


def test_lifetimes_grace_periods_and_limits_must_make_sense(keys) -> None:
    with pytest.raises(ValueError, match="lifetime must be positive"):
        keys.create("partner", ("search",), expires_in=dt.timedelta(0))
    with pytest.raises(ValueError, match="at least 1"):
        keys.create("partner", ("search",), search_per_minute=0)
    issued = keys.create("partner", ("search",))
    with pytest.raises(ValueError, match="cannot be negative"):
        keys.rotate(issued.key.key_id, grace=dt.timedelta(hours=-5))


def test_filters_and_limits_are_kept_with_the_key(keys) -> None:
    issued = keys.create(
        "partner", ("search",), filters={"brand": ["Acme"], "in_stock": True}, search_per_minute=300
    )
    verified = keys.verify(issued.token)
    assert verified is not None
    assert verified.filters == {"brand": ["Acme"], "in_stock": True} and verified.search_per_minute == 300


def test_unknown_keys_cannot_be_rotated_or_revoked(keys) -> None:
    with pytest.raises(UnknownKeyError):
        keys.rotate("qk_000000000000", grace=dt.timedelta(hours=1))
    with pytest.raises(UnknownKeyError):
        keys.revoke("qk_000000000000")


def remembering_keys(store: MemoryKeyStore, clock: Clock) -> ApiKeys:
    """Keys as an API worker verifies them: remembered for 10 s of the test's clock."""
    return ApiKeys(store, clock=clock, cache_ttl_s=10, monotonic=clock.seconds)


class FailingStore(MemoryKeyStore):
    """The in-memory store with an outage switch."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get(self, key_id: str) -> Stored | None:
        if self.down:
            raise KeyStoreError("connection refused")
        return super().get(key_id)


def test_a_store_outage_keeps_known_keys_working_and_refuses_to_guess_about_others(clock) -> None:
    store = FailingStore()
    keys = remembering_keys(store, clock)
    known = keys.create("shop", ("search",))
    unseen = keys.create("partner", ("search",))
    assert keys.verify(known.token) is not None
    store.down = True
    clock.now += dt.timedelta(seconds=60)  # long past the worker's 10 s memory
    assert keys.verify(known.token) is not None  # stale if error
    with pytest.raises(KeyStoreError):
        keys.verify(unseen.token)  # never seen: neither accepted nor refused


def test_verification_without_store_reads_says_when_it_needs_one(keys, store, clock) -> None:
    remembering = remembering_keys(store, clock)
    issued = keys.create("shop", ("search",))
    with pytest.raises(StoreReadNeededError):
        remembering.verify(issued.token, may_read=False)
    assert remembering.verify(issued.token) is not None
    assert remembering.verify(issued.token, may_read=False) is not None  # now from memory
    rotated = keys.rotate(issued.key.key_id, dt.timedelta(hours=1))
    with pytest.raises(StoreReadNeededError):  # a secret it has not seen: read the key again
        remembering.verify(rotated.token, may_read=False)


def test_lists_hide_revoked_and_expired_keys_unless_asked(keys, clock) -> None:
    live = keys.create("live", ("search",))
    revoked = keys.create("revoked", ("search",))
    keys.revoke(revoked.key.key_id)
    keys.create("expiring", ("search",), expires_in=dt.timedelta(hours=1))
    clock.now += dt.timedelta(hours=2)
    assert [k.key_id for k in keys.list()] == [live.key.key_id]
    assert {k.owner for k in keys.list(include_inactive=True)} == {"live", "revoked", "expiring"}


def test_a_key_with_fixed_filters_cannot_recommend(keys) -> None:
    with pytest.raises(ValueError, match="recommend"):
        keys.create("partner", ("search", "recommend"), filters={"brand": ["Acme"]})


def test_fixed_filters_read_every_filter_a_key_may_hold(keys) -> None:
    assert set(FixedFilters.__struct_fields__) == set(FILTER_KINDS)
    issued = keys.create(
        "partner",
        ("search",),
        filters={
            "brand": ["Acme"],
            "category": ["Tents"],
            "in_stock": True,
            "price_max": 200,
            "rating_min": 4,
        },
    )
    assert issued.key.fixed_filters() == FixedFilters(
        brand=("Acme",), category=("Tents",), in_stock=True, price_max=200.0, rating_min=4.0
    )
    assert keys.create("shop", ("search",)).key.fixed_filters().empty


def test_during_an_outage_a_key_changed_here_or_a_new_secret_is_a_store_error_not_a_refusal(clock) -> None:
    store = FailingStore()
    keys = remembering_keys(store, clock)
    rotated_here = keys.create("shop", ("search",))
    rotated_elsewhere = keys.create("partner", ("search",))
    assert keys.verify(rotated_elsewhere.token) is not None
    new_here = keys.rotate(rotated_here.key.key_id, dt.timedelta(hours=1))  # forgotten by this worker
    elsewhere = ApiKeys(store, clock=clock).rotate(rotated_elsewhere.key.key_id, dt.timedelta(hours=1))
    store.down = True
    clock.now += dt.timedelta(seconds=2)
    with pytest.raises(KeyStoreError):  # was a 401 before: the cached "forgotten" marker
        keys.verify(new_here.token)
    with pytest.raises(KeyStoreError):  # a secret the last reading does not know
        keys.verify(elsewhere.token)
    assert keys.verify(rotated_elsewhere.token) is not None  # the old secret, as last read


def test_a_stored_filter_this_version_cannot_read_is_an_error_not_an_open_key(keys) -> None:
    issued = keys.create("partner", ("search",), filters={"brand": ["Acme"]})
    damaged = msgspec.structs.replace(issued.key, filters={"brand": ["Acme"], "colour": ["red"]})
    with pytest.raises(msgspec.ValidationError):
        damaged.fixed_filters()


def test_a_store_read_says_whether_it_refreshes_a_known_key_or_checks_a_guess(keys, store, clock) -> None:
    remembering = remembering_keys(store, clock)
    issued = keys.create("shop", ("search",))
    with pytest.raises(StoreReadNeededError) as first:
        remembering.verify(issued.token, may_read=False)
    assert first.value.known is False  # never seen: as good as a guess, limited per address
    remembering.verify(issued.token)
    clock.now += dt.timedelta(seconds=11)
    with pytest.raises(StoreReadNeededError) as refresh:
        remembering.verify(issued.token, may_read=False)
    assert refresh.value.known is True  # the 10 s refresh of a key in use: not limited


@pytest.fixture
def frozen_memory(store, clock) -> ApiKeys:
    """A worker whose memory of a key never goes stale (its monotonic clock stands still) while wall
    time moves: what it remembers of a token must still honour expiry and grace periods."""
    return ApiKeys(store, clock=clock, cache_ttl_s=10, monotonic=lambda: 0.0)


def test_a_token_answered_from_memory_still_expires_on_time(frozen_memory, clock) -> None:
    issued = frozen_memory.create("partner", ("search",), expires_in=dt.timedelta(days=1))
    assert frozen_memory.verify(issued.token) is not None
    clock.now = START + dt.timedelta(days=1)
    assert frozen_memory.verify(issued.token) is None


def test_an_old_secret_answered_from_memory_stops_at_the_end_of_its_grace(frozen_memory, clock) -> None:
    old = frozen_memory.create("backend", ("search",))
    new = frozen_memory.rotate(old.key.key_id, grace=dt.timedelta(minutes=5))
    assert frozen_memory.verify(old.token) is not None and frozen_memory.verify(new.token) is not None
    clock.now = START + dt.timedelta(minutes=5)
    assert frozen_memory.verify(old.token) is None
    assert frozen_memory.verify(new.token) is not None


def test_a_token_answered_from_memory_is_refused_once_revoked_here(frozen_memory) -> None:
    issued = frozen_memory.create("partner", ("search",))
    assert frozen_memory.verify(issued.token) is not None
    frozen_memory.revoke(issued.key.key_id)
    assert frozen_memory.verify(issued.token) is None


def test_a_wrong_secret_is_never_answered_from_a_real_tokens_memory(frozen_memory) -> None:
    issued = frozen_memory.create("partner", ("search",))
    assert frozen_memory.verify(issued.token) is not None
    key_id, secret = issued.token.split(".")
    assert frozen_memory.verify(f"{key_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}") is None

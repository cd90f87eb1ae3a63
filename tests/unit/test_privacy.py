"""Pseudonyms, consent and the erasure of a user from a model's files (docs/privacy.md), without
services. The pseudonym's format is checked against an HMAC computed here from the documented
recipe, not with Quarry's own function."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import hmac
import io
import json

import msgspec
import numpy as np
import pytest

from quarry.events.consent import private_event
from quarry.events.validation import validate_batch
from quarry.host_secrets import HostSecretError, host_secret
from quarry.privacy import (
    ALLOWED,
    Consent,
    ConsentError,
    ConsentView,
    Pseudonyms,
    ShopperPrivacy,
    UserPrivacy,
    consent_of_event,
    consent_of_header,
)
from quarry.privacy_registry import TrainingExclusions
from quarry.recommenders import ALSRecommender, user_factors, without_user
from quarry.redis_keys import search_page_key, search_page_patterns
from tests.conftest import make_event

KEY = b"k" * 32


def documented(domain: str, raw: str, key: bytes = KEY) -> str:
    return "p1-" + hmac.new(key, f"{domain}\x00{raw}".encode(), hashlib.sha256).hexdigest()[:32]


def test_a_pseudonym_is_the_documented_keyed_hash_and_hides_the_id() -> None:
    pseudonyms = Pseudonyms(KEY)
    assert pseudonyms.user("u-123") == documented("user", "u-123")
    assert pseudonyms.client("u-123") == documented("client", "u-123")  # another domain: unlinkable
    assert pseudonyms.user("u-123") != Pseudonyms(b"x" * 32).user("u-123")  # the key decides
    assert "u-123" not in pseudonyms.user("u-123")
    assert pseudonyms.user_or_none(None) is None and pseudonyms.client_or_none(None) is None
    assert "k" * 32 not in repr(pseudonyms)


def test_quarrys_own_traffic_keeps_its_prefix_and_nothing_else() -> None:
    own = Pseudonyms(KEY).user("quarry-eval")
    assert own == "quarry-" + documented("user", "quarry-eval") and "eval" not in own


def test_a_short_or_missing_key_is_refused(tmp_path) -> None:
    with pytest.raises(HostSecretError, match="32 bytes"):
        host_secret("too short", "QUARRY_PSEUDONYM_KEY", tmp_path / "k")
    with pytest.raises(HostSecretError, match="QUARRY_PSEUDONYM_KEY"):
        host_secret("", "QUARRY_PSEUDONYM_KEY", tmp_path / "k", create=False)
    made = host_secret("", "QUARRY_PSEUDONYM_KEY", tmp_path / "k")
    assert len(made) >= 32 and host_secret("", "QUARRY_PSEUDONYM_KEY", tmp_path / "k") == made


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Consent(True, True)),
        ("", Consent(True, True)),
        ("no-tracking", Consent(True, False)),
        ("No-Personalization", Consent(False, True)),
        (" no-personalization , no-tracking ", Consent(False, False)),
    ],
)
def test_the_consent_header(header, expected) -> None:
    assert consent_of_header(header) == expected


@pytest.mark.parametrize("header", ["no-trackin", "tracking=no", "no-tracking, yes"])
def test_a_consent_header_quarry_cannot_read_is_refused(header) -> None:
    with pytest.raises(ConsentError, match="unknown value"):
        consent_of_header(header)


def test_an_events_consent() -> None:
    assert consent_of_event(None) == Consent() and consent_of_event({"object": {}}) == Consent()
    assert consent_of_event({"consent": {"tracking": False}}) == Consent(True, False)
    for bad in ({"consent": {"tracking": "no"}}, {"consent": {"track": False}}, {"consent": "none"}):
        with pytest.raises(ConsentError):
            consent_of_event(bad)


def test_an_opt_out_from_any_source_holds() -> None:
    view = ConsentView()
    view.learn([UserPrivacy(user="p1-a", updated_at="2026-11-30T00:00:00Z", personalization=False)])
    privacy = ShopperPrivacy(Pseudonyms(KEY), view)
    assert view.of("p1-a") == Consent(False, True) and view.of("p1-b") == Consent()
    view.learn([UserPrivacy(user="p1-a", updated_at="2026-11-30T00:01:00Z")])  # opted back in
    assert view.of("p1-a") == Consent() and len(view) == 0
    shopper = privacy.shopper("u-1", "c-1", Consent(True, False))
    assert shopper == msgspec.convert(
        {
            "user": documented("user", "u-1"),
            "client": documented("client", "c-1"),
            "consent": Consent(True, False),
        },
        type(shopper),
    )


def stored_as(event: dict[str, object], sent: Consent = ALLOWED) -> tuple[dict[str, object], Consent]:
    now = dt.datetime.now(dt.UTC)
    [valid] = validate_batch([event], now, None, frozenset({"click"}))
    kept, consent = private_event(valid, ShopperPrivacy(Pseudonyms(KEY), ConsentView()), sent)
    return msgspec.to_builtins(kept.event), consent


def test_an_event_is_stored_under_pseudonyms() -> None:
    stored, consent = stored_as(make_event(user_id="u-9", client_id="c-9", session_id="s-9"))
    assert (stored["user_id"], stored["client_id"]) == (
        documented("user", "u-9"),
        documented("client", "c-9"),
    )
    assert stored["session_id"] == "s-9" and consent == Consent()
    assert "u-9" not in json.dumps(stored) and "c-9" not in json.dumps(stored)


def test_an_event_without_tracking_keeps_nothing_that_links_it() -> None:
    event = make_event(user_id="u-9", client_id="c-9", session_id="s-9")
    event["event_attributes"] = {**event.get("event_attributes", {}), "session_id": "s-9"}
    stored, consent = stored_as(event, Consent(True, False))
    assert not {"user_id", "client_id", "session_id"} & {k for k, v in stored.items() if v is not None}
    assert "s-9" not in json.dumps(stored) and consent.tracking is False
    assert stored["event_attributes"]["consent"] == {"personalization": True, "tracking": False}


def test_an_event_without_personalization_says_so_for_the_offline_jobs() -> None:
    event = make_event(user_id="u-9", session_id="s-9")
    event["event_attributes"] = {"consent": {"personalization": False}}
    stored, consent = stored_as(event)
    assert stored["user_id"] == documented("user", "u-9") and consent == Consent(False, True)
    exclusions = TrainingExclusions()
    assert exclusions.excludes_event(stored) and not exclusions.excludes_event(
        {**stored, "event_attributes": {}}
    )


def test_training_leaves_out_opted_out_users_and_erased_users_past() -> None:
    erased = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    exclusions = TrainingExclusions(opted_out=frozenset({"p1-out"}), erased_at={"p1-gone": erased})
    before, after = "2026-11-30T11:59:59Z", "2026-11-30T12:00:01Z"
    assert exclusions.excludes_event({"user_id": "p1-out", "timestamp": after})
    assert exclusions.excludes_event({"user_id": "p1-gone", "timestamp": before})
    assert not exclusions.excludes_event({"user_id": "p1-gone", "timestamp": after})  # new data
    assert not exclusions.excludes_event({"user_id": "p1-other", "timestamp": before})
    assert not exclusions.excludes_event({"timestamp": before})  # anonymous: nobody to leave out


def test_a_users_cached_pages_are_found_by_pattern_and_no_one_elses() -> None:
    mine = [search_page_key("abc", "p1-me", None), search_page_key("def", "p1-me", "s-1")]
    session = [search_page_key("abc", None, "s-1")]
    others = [
        search_page_key("abc", "p1-meme", None),
        search_page_key("abc", None, None),
        "session:s-1:recent",
    ]
    patterns = search_page_patterns("p1-me", ["s-1"])
    found = {key for key in mine + session + others if any(fnmatch.fnmatchcase(key, p) for p in patterns)}
    assert found == set(mine + session)


def als_files() -> tuple[dict[str, bytes], ALSRecommender]:
    model = ALSRecommender(factors=2)
    model.user_factors = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    model.item_factors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    model.user_index = {"p1-a": 0, "p1-b": 1, "p1-c": 2}
    model.item_ids = ["i1", "i2"]
    history = {u: {"interactions": 5, "purchased": ["i1"]} for u in model.user_index}
    return {**model.save(), "history.json": json.dumps(history).encode()}, model


def test_a_user_leaves_the_model_and_everyone_else_keeps_their_scores() -> None:
    files, model = als_files()
    changed = without_user(files, "p1-b")
    assert changed is not None
    after = {**files, **changed}
    assert json.loads(after["user_ids.json"]) == ["p1-a", "p1-c"]
    assert "p1-b" not in json.loads(after["history.json"])
    assert np.load(io.BytesIO(after["user_factors.npy"])).shape == (2, 2)
    reloaded = ALSRecommender.load(after, model.params)
    for user in ("p1-a", "p1-c"):
        assert reloaded.score(user, ["i1", "i2"]) == model.score(user, ["i1", "i2"])
    assert reloaded.score("p1-b", ["i1"]) == [0.0] and user_factors(after, "p1-b") is None
    assert without_user(after, "p1-b") is None  # nothing left of the user: nothing to change

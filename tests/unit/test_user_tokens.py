"""User tokens (quarry/user_tokens.py) and whom a request may act for (api/security/users.py)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import stat

import pytest

from quarry.acting_for import ANY_USER, NOBODY, ActingFor, UserMismatchError
from quarry.events.validation import STANDARD_ACTIONS, BatchRejectedError, validate_batch
from quarry.user_tokens import (
    MasterSecretError,
    SigningSecret,
    UserTokenError,
    encode_secret,
    key_secret,
    master_secret,
    sign,
    verify,
)
from tests.conftest import make_event

SECRET = b"k" * 32
NOW = 1_800_000_000.0


def by_hand(secret: bytes, user_id: str, expires_at: int) -> str:
    """The documented format, written out the way a backend in another language would."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = f"v1.{b64(user_id.encode())}.{expires_at}"
    return f"{head}.{b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())}"


def test_a_token_made_from_the_documented_format_is_accepted() -> None:
    token = by_hand(SECRET, "shopper.42@example", int(NOW) + 60)
    assert verify(token, (SigningSecret(SECRET),), NOW) == "shopper.42@example"
    assert sign(SECRET, "shopper.42@example", NOW + 60) == token


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (by_hand(SECRET, "u1", int(NOW)), "expired"),
        (by_hand(b"x" * 32, "u1", int(NOW) + 60), "signature"),
        (by_hand(SECRET, "u1", int(NOW) + 60).replace("v1.dTE", "v1.dTI"), "signature"),  # u1 -> u2
        (
            by_hand(SECRET, "u1", int(NOW) + 60).replace(f".{int(NOW) + 60}.", f".{int(NOW) + 9999}."),
            "signature",
        ),
        ("v2." + by_hand(SECRET, "u1", int(NOW) + 60)[3:], "reads v1"),
        ("v1.dTE.soon.c2ln", "malformed"),
        ("v1.%%%.1.c2ln", "malformed"),
        ("v1..1900000000.c2ln", "no valid user id"),
        ("v1.dTE.1900000000", "reads v1"),
        ("v1." + "A" * 600, "at most"),
        ("v1.dTE.1900000000.\xe9\xe9", "ASCII"),
        (by_hand(SECRET, "u1", int(NOW) + 8 * 86400), "at most 7 days"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(UserTokenError, match=reason):
        verify(token, (SigningSecret(SECRET),), NOW)


def test_a_previous_secret_counts_until_its_grace_period_ends() -> None:
    old, new = b"o" * 32, b"n" * 32
    during = (SigningSecret(new), SigningSecret(old, valid_until=NOW + 10))
    token = by_hand(old, "u1", int(NOW) + 3600)
    assert verify(token, during, NOW) == "u1"
    with pytest.raises(UserTokenError, match="signature"):
        verify(token, during, NOW + 10)
    assert verify(by_hand(new, "u1", int(NOW) + 3600), during, NOW + 10) == "u1"


def test_each_key_and_each_key_secret_has_its_own_user_token_secret() -> None:
    master = b"m" * 32
    secrets = {
        key_secret(master, "qk_000000000001", "a" * 64),
        key_secret(master, "qk_000000000002", "a" * 64),
        key_secret(master, "qk_000000000001", "b" * 64),  # after a rotation
        key_secret(b"M" * 32, "qk_000000000001", "a" * 64),  # another deployment
    }
    assert len(secrets) == 4 and all(len(s) == 32 for s in secrets)
    assert base64.urlsafe_b64decode(encode_secret(SECRET) + "=") == SECRET  # what a backend decodes
    assert "kkkk" not in repr(SigningSecret(SECRET)) and "107" not in repr(SigningSecret(SECRET))


def test_the_master_secret_is_made_once_readable_by_its_owner_only(tmp_path) -> None:
    with pytest.raises(MasterSecretError, match="where the API runs"):
        master_secret("", tmp_path, create=False)  # the CLI never makes one of its own
    first = master_secret("", tmp_path)
    path = tmp_path / "keys" / "user-token.secret"
    assert len(first) >= 32 and master_secret("", tmp_path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no staged copy left behind
    assert master_secret("c" * 32, tmp_path) == b"c" * 32
    with pytest.raises(MasterSecretError, match="at least 32 bytes"):
        master_secret("short", tmp_path)


def test_whom_a_request_may_act_for() -> None:
    assert ANY_USER.user_for("u1") == "u1" and ANY_USER.user_for(None) is None
    assert NOBODY.user_for("u1") is None
    token = ActingFor(token_user="u1")
    assert token.user_for("u1") == "u1" and token.user_for(None) == "u1"
    with pytest.raises(UserMismatchError):
        token.user_for("u2")


WEEK = dt.timedelta(days=7)


def test_events_drop_user_ids_the_sender_may_not_use() -> None:
    event = make_event(user_id="u1", session_id="s1")
    now = dt.datetime.now(dt.UTC)  # the events are stamped now: a time taken at import may be long past
    [kept] = validate_batch([event], now, WEEK, STANDARD_ACTIONS, ANY_USER)
    [dropped] = validate_batch([event], now, WEEK, STANDARD_ACTIONS, NOBODY)
    assert kept.event.user_id == "u1"
    assert dropped.event.user_id is None and dropped.event.session_id == "s1"
    assert dropped.event_id == kept.event_id == event["event_id"]


def test_events_only_a_user_id_identifies_or_naming_another_user_are_rejected_with_a_reason() -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(BatchRejectedError) as only_user:
        validate_batch([make_event(user_id="u1", session_id=None)], now, WEEK, STANDARD_ACTIONS, NOBODY)
    assert "server scope" in only_user.value.errors[0].reason
    with pytest.raises(BatchRejectedError) as other:
        validate_batch([make_event(user_id="u2")], now, WEEK, STANDARD_ACTIONS, ActingFor(token_user="u1"))
    assert "not the user" in other.value.errors[0].reason

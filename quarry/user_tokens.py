"""User tokens: how a shop's backend lets its frontend act for a signed-in shopper
(docs/security.md#acting-for-a-user).

A frontend's API key is public (it is in the page), so a `user_id` it sends proves nothing: anyone
could read or poison another shopper's personalization with it. The shop's backend, which knows
who is signed in, signs a short-lived token instead:

    v1.<user id, base64url>.<expiry, unix seconds>.<HMAC-SHA256 of the first three parts, base64url>

with the *key's* user-token secret, and the frontend sends it in `X-User-Token` next to its key.

Each key's secret is derived, not stored: HMAC(master secret, key id and the hash of the key's
current secret). Nothing new sits in the key store, a leak of the key store does not reveal it, and
rotating the API key rotates its user-token secret too (the previous one keeps working for the
rotation's grace period, like the previous key secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path
from typing import Any

import msgspec

from quarry.host_secrets import HostSecretError, host_secret

VERSION = "v1"
HEADER = "X-User-Token"
TOKEN_FORMAT = (
    "v1.<base64url user id>.<expiry, unix seconds>.<base64url HMAC-SHA256 of the first three parts>"  # noqa: S105 - a name, not a password
)
MAX_TOKEN_LENGTH = 512
MAX_LIFETIME_S = 7 * 86400
"""A longer-lived token would outlast a sign-out by too much: a backend signs one per session."""
MAX_USER_ID_LENGTH = 128
MASTER_SECRET_FILE = "keys/user-token.secret"  # noqa: S105 - a name, not a password
_DERIVATION_LABEL = b"quarry-user-token-v1"


class UserTokenError(ValueError):
    """A user token that cannot be trusted: malformed, expired or signed with another secret."""


class SigningSecret(msgspec.Struct, frozen=True):
    """One secret a key's user tokens may be signed with, and until when (unix seconds; None: for as
    long as the key's current secret)."""

    secret: bytes
    valid_until: float | None = None

    def __repr__(self) -> str:  # never the secret: it would reach logs and tracebacks
        return f"SigningSecret(valid_until={self.valid_until})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("valid_until", self.valid_until)]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: the standard decoder skips characters outside the alphabet, so two different
    tokens could name one user."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def key_secret(master: bytes, key_id: str, secret_sha256: str) -> bytes:
    """The user-token secret of the key whose current secret hashes to `secret_sha256`."""
    message = b"\x00".join([_DERIVATION_LABEL, key_id.encode(), secret_sha256.encode()])
    return hmac.new(master, message, hashlib.sha256).digest()


def encode_secret(secret: bytes) -> str:
    """The form a shop's backend is given (`keys user-secret`, the admin API)."""
    return _b64(secret)


def _signature(secret: bytes, signed: str) -> str:
    return _b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest())


def sign(secret: bytes, user_id: str, expires_at: float) -> str:
    """A token for `user_id` that expires at `expires_at` (unix seconds); what a backend does."""
    if not 1 <= len(user_id) <= MAX_USER_ID_LENGTH:
        raise ValueError(f"a user id is 1-{MAX_USER_ID_LENGTH} characters")
    signed = f"{VERSION}.{_b64(user_id.encode())}.{int(expires_at)}"
    return f"{signed}.{_signature(secret, signed)}"


def verify(token: str, secrets_: tuple[SigningSecret, ...], now: float) -> str:
    """The user id a token vouches for; UserTokenError (with a reason a client can act on) if it
    vouches for nothing. Every candidate secret is compared in constant time."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise UserTokenError(f"a user token is at most {MAX_TOKEN_LENGTH} characters")
    if not token.isascii():
        raise UserTokenError("a user token is ASCII text")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise UserTokenError(f"a user token reads {VERSION}.<user id>.<expiry>.<signature>")
    _, encoded_user, expiry, signature = parts
    try:
        user_id = _unb64(encoded_user).decode()
        expires_at = int(expiry)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise UserTokenError("the user token is malformed") from exc
    if not 1 <= len(user_id) <= MAX_USER_ID_LENGTH:
        raise UserTokenError("the user token names no valid user id")
    signed = f"{VERSION}.{encoded_user}.{expiry}"
    matched = False
    for candidate in secrets_:
        if candidate.valid_until is not None and now >= candidate.valid_until:
            continue
        matched |= hmac.compare_digest(_signature(candidate.secret, signed), signature)
    if not matched:
        raise UserTokenError("the user token's signature does not match this API key")
    if now >= expires_at:
        raise UserTokenError("the user token has expired")
    if expires_at - now > MAX_LIFETIME_S:
        raise UserTokenError(f"a user token lives at most {MAX_LIFETIME_S // 86400} days; sign a shorter one")
    return user_id


MasterSecretError = HostSecretError


def master_secret(configured: str, var_dir: Path, create: bool = True) -> bytes:
    """The master secret every key's user-token secret is derived from: QUARRY_USER_TOKEN_SECRET
    (or its _FILE), which every API instance of a deployment must share; on one host a random one
    made once in the var folder."""
    return host_secret(configured, "QUARRY_USER_TOKEN_SECRET", var_dir / MASTER_SECRET_FILE, create)

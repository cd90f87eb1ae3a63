"""Which shopper a request may act for (docs/security.md#acting-for-a-user).

A `user_id` reads and writes a shopper's personalization, so it is taken only from a backend's key
(`server` scope) or with a user token the shop's backend signed for that user. From anyone else it
is ignored: the search is answered unpersonalized (with a `Quarry-User-Id: ignored` header saying
so) and events are stored as the session's, not the user's. A bad token is a 401, never ignored: a
frontend with a broken signer should find out at once.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException

from api.security.auth import caller_of, unauthorized
from quarry.acting_for import ANY_USER, NOBODY, ActingFor, UserMismatchError
from quarry.metrics import USER_IDS
from quarry.user_tokens import HEADER, UserTokenError, verify

IGNORED_STATE_KEY = "user_id_ignored"
IGNORED_HEADER = (b"quarry-user-id", b"ignored")
_HEADER_BYTES = HEADER.lower().encode()


def _token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    for name, value in connection.scope["headers"]:
        if name.lower() == _HEADER_BYTES and value.strip():
            return value.decode("latin-1").strip()
    return None


def acting_for(connection: ASGIConnection[Any, Any, Any, Any]) -> ActingFor:
    """Whom the request may act for; 401 for a user token that is forged, expired or malformed."""
    caller = caller_of(connection)
    if caller.may("server"):
        return ANY_USER
    token = _token(connection)
    if token is None:
        return NOBODY
    try:
        return ActingFor(token_user=verify(token, caller.user_secrets, time.time()))
    except UserTokenError as exc:
        USER_IDS.labels("refused").inc()
        raise unauthorized(f"{HEADER}: {exc}") from exc


def request_user(connection: ASGIConnection[Any, Any, Any, Any], requested: str | None) -> str | None:
    """The user id a search or recommendation request may use (see the module's docstring); 403
    for a user id that is not its token's."""
    acting = acting_for(connection)
    try:
        user = acting.user_for(requested)
    except UserMismatchError as exc:
        USER_IDS.labels("refused").inc()
        raise PermissionDeniedException(str(exc)) from exc
    if user is not None:
        USER_IDS.labels("server" if acting.any_user else "token").inc()
    elif requested is not None:
        USER_IDS.labels("ignored").inc()
        connection.scope["state"][IGNORED_STATE_KEY] = True
    return user

"""Which users one request may act for (docs/security.md#acting-for-a-user): decided by the API's
authentication, obeyed by event validation, which offline replays run too."""

from __future__ import annotations

import msgspec

from quarry.user_tokens import HEADER


class UserMismatchError(ValueError):
    """A request or an event names a user other than its user token's."""


class ActingFor(msgspec.Struct, frozen=True):
    """The user ids one request may act for: any (a backend's key, or authentication off), the one a
    verified user token names, or none."""

    any_user: bool = False
    token_user: str | None = None

    def user_for(self, requested: str | None) -> str | None:
        """The user to personalize for or attribute to; None: anonymous. With a token, a request that
        names no user is the token's user's."""
        if self.any_user:
            return requested
        if self.token_user is not None:
            if requested is not None and requested != self.token_user:
                raise UserMismatchError(f"user_id {requested!r} is not the user of the {HEADER}")
            return self.token_user
        return None


NOBODY = ActingFor()
ANY_USER = ActingFor(any_user=True)

"""Finding the key in a request's raw headers (api/security/auth.py)."""

from __future__ import annotations

import pytest

from api.security.auth import presented_token


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([(b"authorization", b"Bearer qk_1.abc")], "qk_1.abc"),
        ([(b"Authorization", b"bearer   qk_1.abc ")], "qk_1.abc"),
        ([(b"x-api-key", b"qk_1.abc")], "qk_1.abc"),
        ([(b"X-API-Key", b" qk_1.abc ")], "qk_1.abc"),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
        ([(b"authorization", b"Bearer ")], None),
        ([(b"authorization", b"Basic dXNlcjpwYXNz"), (b"x-api-key", b"qk_1.abc")], "qk_1.abc"),
        ([(b"host", b"shop.example")], None),
        ([], None),
    ],
)
def test_the_key_comes_from_a_bearer_authorization_or_x_api_key(headers, token) -> None:
    assert presented_token(headers) == token

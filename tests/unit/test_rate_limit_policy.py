"""Which windows a request counts in (api/security/limits.py), including when the worker remembers
them for a client repeating a request."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from litestar.datastructures import URL

from api.security import limits
from api.security.auth import Caller
from api.security.clients import ACCESS_STATE_KEY
from api.security.limits import Limits, RateLimitPolicy
from quarry.rate_limits import LocalRateLimits, RateLimiter, Window

SHOPPER_KEY = Caller(key_id="shop-web", scopes=frozenset({"search"}))
PARTNER_KEY = Caller(key_id="partner", scopes=frozenset({"search"}), search_per_minute=30)
BACKEND_KEY = Caller(key_id="shop-backend", scopes=frozenset({"search", "server"}))


def policy() -> RateLimitPolicy:
    return RateLimitPolicy(
        RateLimiter(LocalRateLimits()),
        {"search": Limits(100, 150, 1000), "recommend": Limits(50, 75, 500)},
        same_query_per_minute=20,
    )


def request(query_string: str, address: str = "198.51.100.7", allowlisted: bool = False) -> Any:
    """What the policy reads of a request: the peer, the raw query string, the parameters Litestar
    parses from it, and the guard's access-list decision."""
    state = {ACCESS_STATE_KEY: "allow"} if allowlisted else {}
    return SimpleNamespace(
        scope={"client": (address, 50123), "query_string": query_string.encode(), "state": state},
        query_params=URL(f"/v1/search?{query_string}").query_params,
    )


def counted(policy: RateLimitPolicy, connection: Any, caller: Caller = SHOPPER_KEY) -> list[Window]:
    return list(policy._windows_of(connection, "search", caller))


def test_a_search_counts_for_its_address_its_text_and_its_key() -> None:
    windows = counted(policy(), request("q=tent"))
    assert [w.label for w in windows] == ["search", "repeated_query", "search"]
    address, text, key = windows
    assert address.key.endswith("search:ip:198.51.100.7")
    assert (address.capacity, address.window_ms) == (150, 90_000)
    assert ":repeated_query:ip:198.51.100.7:" in text.key
    assert (text.capacity, text.cover, text.shown) == (20, address.key, False)
    assert key.key.endswith("search:key:shop-web") and key.capacity == 1000


def test_a_repeated_request_counts_in_the_same_windows_as_the_first() -> None:
    limits_policy = policy()
    first = counted(limits_policy, request("q=tent&size=20"))
    again = counted(limits_policy, request("q=tent&size=20"))
    assert again == first
    # The same search sent differently is the same text window, worked out afresh.
    reordered = counted(limits_policy, request("size=20&q=TENT"))
    assert reordered == first


def test_remembered_windows_stay_apart_per_text_client_key_and_access() -> None:
    limits_policy = policy()
    tent = counted(limits_policy, request("q=tent"))
    stove = counted(limits_policy, request("q=stove"))
    assert stove[0] == tent[0] and stove[1].key != tent[1].key

    other_client = counted(limits_policy, request("q=tent", address="203.0.113.9"))
    assert other_client[0].key.endswith("ip:203.0.113.9") and other_client[1].key != tent[1].key

    partner = counted(limits_policy, request("q=tent"), PARTNER_KEY)
    assert partner[2].key.endswith("key:partner") and partner[2].capacity == 30

    allowed = counted(limits_policy, request("q=tent", allowlisted=True))
    assert [w.key for w in allowed] == [tent[2].key]  # an allowed address counts for its key only
    assert counted(limits_policy, request("q=tent")) == tent

    backend = counted(limits_policy, request("q=tent"), BACKEND_KEY)
    assert [w.key for w in backend] == [tent[2].key.replace("shop-web", "shop-backend")]


def test_the_remembered_requests_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "REQUEST_WINDOWS_KEPT", 8)
    limits_policy = policy()
    for n in range(50):
        counted(limits_policy, request(f"q=tent+{n}"))
        assert len(limits_policy._request_windows) <= 8
    # What was forgotten is worked out again, alike.
    assert counted(limits_policy, request("q=tent+0")) == counted(policy(), request("q=tent+0"))

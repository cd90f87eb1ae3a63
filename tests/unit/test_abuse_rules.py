"""What counts as the same search and as one client (api/security/limits.py, clients.py)."""

from __future__ import annotations

import pytest
from litestar.datastructures import URL

from api.security.clients import subject_address
from api.security.limits import query_fingerprint


def fingerprint(query_string: bytes) -> str | None:
    """As the guard computes it: from the query parameters Litestar parses for the handler too."""
    return query_fingerprint(URL(f"/v1/search?{query_string.decode()}").query_params.multi_items())


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"q=Running+Shoes", b"q=running%20shoes"),
        (b"q=tent&size=20", b"size=20&q=%20TENT%20"),
        (b"q=tent&query_id=a1&client_id=c1", b"q=tent&query_id=b2&client_id=c2"),  # ids differ per request
        (b"q=junk&q=tent", b"q=tent"),  # the handler reads the last q
        (b"%71=tent", b"q=tent"),  # and decoded names
    ],
)
def test_the_same_search_however_it_is_sent(first: bytes, second: bytes) -> None:
    assert fingerprint(first) == fingerprint(second) is not None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"q=tent", b"q=tents"),
        (b"q=tent&page=1", b"q=tent&page=2"),  # the next page is a new request, not a repeat
        (b"q=tent", b"q=tent&brand=Acme"),  # a refinement too
    ],
)
def test_different_searches(first: bytes, second: bytes) -> None:
    assert fingerprint(first) != fingerprint(second)


def test_no_text_no_fingerprint() -> None:
    assert fingerprint(b"") is None and fingerprint(b"q=%20%20") is None


def test_one_client_per_address_ipv6_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert subject_address("203.0.113.7") == "203.0.113.7"
    assert (
        subject_address("2001:db8:1:2:3:4:5:6")
        == subject_address("2001:db8:1:2:ffff::1")
        == "2001:db8:1:2::/64"
    )
    assert subject_address("::ffff:203.0.113.7") == "203.0.113.7"
    assert subject_address("::ffff:203.0.113.8") != subject_address("::ffff:203.0.113.7")
    assert subject_address("testclient") == "testclient"

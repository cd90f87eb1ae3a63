"""Result-cache keys: everything that changes a page is in the key, and nothing else."""

from __future__ import annotations

from quarry.search.cache import cache_key
from quarry.search.schemas import SearchRequest


def key(**fields: object):
    return cache_key(SearchRequest(q="tent", **fields), "tent", "ranking-1", "products-1")  # type: ignore[arg-type]


def test_a_session_owns_its_relevance_pages_only() -> None:
    relevance = key(session_id="s-1")
    assert relevance.session_scoped and relevance.value != key().value
    assert relevance.value != key(session_id="s-2").value
    # Explicit sorts ignore the session: one page for every session of the user, kept in memory too.
    by_price = key(session_id="s-1", sort="price_asc")
    assert not by_price.session_scoped
    assert by_price.value == key(session_id="s-2", sort="price_asc").value == key(sort="price_asc").value


def test_what_changes_a_page_changes_the_key() -> None:
    base = key().value
    for changed in (
        key(page=2),
        key(size=10),
        key(brand=("Acme",)),
        key(price_max=100.0),
        key(in_stock=True),
        key(sort="newest"),
        key(user_id="u-1"),
        key(explain=True),
    ):
        assert changed.value != base
    other_versions = cache_key(SearchRequest(q="tent"), "tent", "ranking-2", "products-1")
    assert other_versions.value != base
    reindexed = cache_key(SearchRequest(q="tent"), "tent", "ranking-1", "products-2")
    assert reindexed.value != base

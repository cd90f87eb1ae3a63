"""The storefront's links: every link on a results page is the page's own address with one thing
changed, and it reads back as the search it names."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from api.storefront.services import PAGE_SIZE, chips, href, page_links
from quarry.search.schemas import (
    Facets,
    QueryInfo,
    SearchRequest,
    SearchResponse,
)
from quarry.understanding.schemas import AppliedFilter, Entities


def params(link: str) -> dict[str, list[str]]:
    parts = urlsplit(link)
    assert parts.path == "/ui/search"
    return parse_qs(parts.query)


def response(applied: list[AppliedFilter] | None = None) -> SearchResponse:
    query = QueryInfo("q", "q", None, None, "product_search", Entities(), applied_filters=applied or [])
    return SearchResponse("id", query, 0, 1, PAGE_SIZE, [], Facets([], [], [], [], {}), 1.0, False, [])


def test_a_change_keeps_everything_else_and_starts_at_page_one() -> None:
    page = SearchRequest(q="red shoes", page=3, brand=("Nike",), price_max=100.0, sort="price_asc")
    assert params(href(page, brand=("Nike", "Adidas"))) == {
        "q": ["red shoes"],
        "brand": ["Nike", "Adidas"],
        "price_max": ["100"],
        "sort": ["price_asc"],
    }
    assert params(href(page, page=4))["page"] == ["4"]
    assert "page" not in params(href(page, sort="rating"))


def test_attributes_and_stock_round_trip() -> None:
    page = SearchRequest(q="sofa", attributes=(("color", "navy"), ("material", "linen")), in_stock=True)
    read = params(href(page))
    assert read["color"] == ["navy"] and read["material"] == ["linen"] and read["in_stock"] == ["true"]


def test_pages_around_the_current_one_with_previous_and_next() -> None:
    links, previous, following = page_links(SearchRequest(q="x", page=5), total=PAGE_SIZE * 20)
    assert [link.label for link in links] == ["2", "3", "4", "5", "6", "7", "8"]
    assert [link.selected for link in links].index(True) == 3
    assert previous is not None and params(previous.href)["page"] == ["4"]
    assert following is not None and params(following.href)["page"] == ["6"]
    single, none_before, none_after = page_links(SearchRequest(q="x"), total=3)
    assert [link.label for link in single] == ["1"] and none_before is None and none_after is None


def test_the_last_page_has_no_next() -> None:
    links, _, following = page_links(SearchRequest(q="x", page=2), total=PAGE_SIZE + 1)
    assert [link.label for link in links] == ["1", "2"] and following is None


def test_each_chip_removes_its_own_filter_only() -> None:
    page = SearchRequest(q="sofa under 500", brand=("IKEA", "Zinus"), category="Sofas")
    applied = [AppliedFilter("price", "lte", 500.0, "under 500")]
    found = {chip.label: params(chip.remove_href) for chip in chips(page, response(applied))}
    assert found["Brand: IKEA"]["brand"] == ["Zinus"]
    assert "category" not in found["Category: Sofas"]
    assert found["Price up to $500"]["q"] == ["sofa"]  # the words the filter was read from go
    assert found["Price up to $500"]["brand"] == ["IKEA", "Zinus"]

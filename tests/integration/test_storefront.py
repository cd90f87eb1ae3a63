"""The storefront's pages on the real stack (docs/ui.md): rendered from the search core's answers,
with no key in the browser's request (the pages act with the storefront's public key), every link
an address that searches as it says, and the loop from search to purchase credited in UBI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from quarry.api_keys import temporary_key
from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG
from quarry.ubi import UBI_QUERIES

STOREFRONT_SCOPES = ("search", "recommend", "events")


@pytest.fixture(scope="module")
def storefront_token(api_keys) -> Iterator[str]:
    with temporary_key(api_keys, "storefront test", STOREFRONT_SCOPES, per_minute=1_000_000) as token:
        yield token


@pytest.fixture(scope="module")
def shop(shop_catalog, storefront_token, api_keys):
    """The real app as a browser sees it: no Authorization header on any page request."""
    from litestar.testing import TestClient

    from api.app import create_app

    settings = msgspec.structs.replace(shop_catalog, storefront_key=storefront_token, cache_warm_queries=0)
    with TestClient(create_app(settings, keys=api_keys)) as client:
        yield client


def links(html: str, css_class: str | None = None) -> list[str]:
    pattern = rf'<a class="{css_class}" href="([^"]+)"' if css_class else r'<a href="([^"]+)"'
    return [unescape(href) for href in re.findall(pattern, html)]


def facet_links(html: str, facet: str) -> dict[str, str]:
    """label -> href of one facet group's links."""
    section = html.split(f'data-facet="{facet}"', 1)[1].split("</section>", 1)[0]
    return {
        unescape(label).strip(): unescape(href)
        for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)', section)
    }


def cards(html: str) -> list[str]:
    return re.findall(r'<li class="card" data-product-id="([^"]+)"', html)


def test_a_search_page_shows_the_apis_results_without_a_key_in_the_request(shop, storefront_token) -> None:
    page = shop.get("/ui/search", params={"q": "running shoes"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    api = shop.get(
        "/v1/search",
        params={"q": "running shoes", "size": 24},
        headers={"Authorization": f"Bearer {storefront_token}"},
    ).json()
    assert cards(page.text) == [r["product_id"] for r in api["results"]]
    assert f"{api['total']:,} products" in page.text
    assert f'data-key="{storefront_token}"' in page.text  # the page's script sends events with it
    assert {"quarry_session", "quarry_client"} <= set(page.cookies)


def test_a_facet_link_searches_with_that_filter_and_its_chip_removes_it(shop) -> None:
    first = shop.get("/ui/search", params={"q": "sofa"}).text
    brand, href = next(iter(facet_links(first, "brand").items()))
    brand = brand.rsplit(" (", 1)[0]
    assert parse_qs(urlsplit(href).query)["brand"] == [brand]
    filtered = shop.get(href)
    assert filtered.status_code == 200
    shown = cards(filtered.text)
    assert shown
    for product_id in shown:
        assert f'<p class="meta">by {brand}</p>' in shop.get(f"/ui/products/{product_id}").text
    [chip] = links(filtered.text, "chip")
    assert parse_qs(urlsplit(chip).query) == {"q": ["sofa"]}


def test_words_read_as_a_filter_show_a_chip_that_searches_without_them(shop) -> None:
    page = shop.get("/ui/search", params={"q": "sofa under 500"}).text
    chip_labels = re.findall(r'aria-label="Remove filter ([^"]+)"', page)
    assert any("500" in label for label in chip_labels), chip_labels
    assert "/ui/search?q=sofa" in links(page, "chip")


def test_a_misspelt_query_says_what_it_searched_for(shop) -> None:
    page = shop.get("/ui/search", params={"q": "wireles headphnes"}).text
    assert "Showing results for <strong>wireless headphones</strong>" in page
    assert cards(page)


def test_pages_link_to_the_next_page_of_the_same_search(shop) -> None:
    first = shop.get("/ui/search", params={"q": "shirt"}).text
    following = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert following, "a query with hundreds of results has a next page"
    second = shop.get(unescape(following.group(1))).text
    assert set(cards(first)).isdisjoint(cards(second))
    assert 'aria-current="page" class="selected">2<' in second


def test_the_product_page_carries_the_search_it_came_from_and_shows_similar_items(shop) -> None:
    search = shop.get("/ui/search", params={"q": "leather sofa"}).text
    query_id = re.search(r'data-query-id="([^"]+)"', search).group(1)  # type: ignore[union-attr]
    product_link = links(search, "title")[0]
    assert parse_qs(urlsplit(product_link).query) == {"query_id": [query_id], "position": ["1"]}
    product = shop.get(product_link)
    assert product.status_code == 200
    assert f'data-query-id="{query_id}"' in product.text and 'data-position="1"' in product.text
    assert 'id="add-to-cart"' in product.text
    assert "Similar items" in product.text and cards(product.text)


def test_unknown_products_and_bad_parameters_are_clear_errors(shop) -> None:
    missing = shop.get("/ui/products/NOPE-0")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "trace_id" in missing.json()
    bad = shop.get("/ui/search", params={"q": "sofa", "price_min": "cheap"})
    assert bad.status_code == 400 and "trace_id" in bad.json()
    empty = shop.get("/ui/search", params={"q": "  "}, follow_redirects=False)
    assert empty.status_code in (302, 303, 307) and empty.headers["location"] == "/ui/"


def test_the_home_page_recommends_and_says_how(shop) -> None:
    home = shop.get("/ui/")
    assert home.status_code == 200
    assert re.search(r'data-strategy="[a-z_]+"', home.text)
    assert len(cards(home.text)) >= 4


def test_the_pages_search_is_logged_as_the_storefronts(shop, engine) -> None:
    page = shop.get("/ui/search", params={"q": "desk lamp"})
    query_id = re.search(r'data-query-id="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    shop.app.state.search_service.query_log.flush()
    engine.refresh(UBI_QUERIES)
    record = engine.get_document(UBI_QUERIES, query_id)
    assert record["application"] == "storefront"
    assert record["user_query"] == "desk lamp"
    assert record["client_id"] and record["client_id"] != shop.cookies["quarry_client"]  # pseudonymized


def test_without_a_storefront_key_the_pages_say_so(demo_catalog, api_keys, tmp_path) -> None:
    from litestar.testing import TestClient

    from api.app import create_app

    settings = msgspec.structs.replace(
        demo_catalog, storefront_key="", var_dir=str(tmp_path), cache_warm_queries=0
    )
    with TestClient(create_app(settings, keys=api_keys)) as client:
        page = client.get("/ui/search", params={"q": "sofa"})
        assert page.status_code == 503
        assert "QUARRY_STOREFRONT_KEY" in page.json()["detail"]
        assert client.get("/ui/static/storefront.css").status_code == 200  # static files need no key


def test_a_key_with_more_than_the_public_scopes_is_never_put_in_a_page(
    demo_catalog, api_keys, api_token
) -> None:
    from litestar.testing import TestClient

    from api.app import create_app

    settings = msgspec.structs.replace(
        demo_catalog, storefront_key=api_token, cache_warm_queries=0
    )  # every scope
    with TestClient(create_app(settings, keys=api_keys)) as client:
        page = client.get("/ui/search", params={"q": "sofa"})
        assert page.status_code == 503 and api_token not in page.text


def test_the_pages_keep_the_search_apis_bounds(shop) -> None:
    too_many = shop.get("/ui/search", params={"q": "sofa", "brand": [f"b{n}" for n in range(21)]})
    assert too_many.status_code == 400 and "at most 20" in too_many.json()["detail"]
    crossed = shop.get("/ui/search", params={"q": "sofa", "price_min": 50, "price_max": 10})
    assert crossed.status_code == 400
    assert shop.get("/ui/search", params={"q": "sofa", "page": 417}).status_code == 400  # deeper than 10,000


def test_a_visitor_who_opted_out_of_tracking_is_recorded_without_a_session(shop, engine) -> None:
    """The home page's shelf is a recommendation answer, recorded like the API's: with the visitor's
    session, unless the visitor opted out of tracking."""
    for consent, tracked in ((None, True), ("no-tracking", False)):
        home = shop.get("/ui/", headers={"Quarry-Consent": consent} if consent else {})
        request_id = re.search(r'data-query-id="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
        shop.app.state.recommendation_service.flush_records()
        engine.refresh(RECOMMENDATION_LOG)
        record = engine.get_document(RECOMMENDATION_LOG, request_id)
        assert record is not None
        assert ("session_id" in record) is tracked, record

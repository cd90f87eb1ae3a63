"""/v1/search, /v1/products and /v1/suggest on the real stack (demo catalog, OpenSearch, Redis)."""

from __future__ import annotations

import uuid

import pytest


def search(client, **params):
    response = client.get("/v1/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_search_returns_the_documented_shape(api_client) -> None:
    body = search(api_client, q="running shoes", size=5)
    assert uuid.UUID(body["query_id"])
    assert body["query"]["normalized"] == "running shoes"
    assert body["total"] > 100 and body["page"] == 1 and body["size"] == 5
    assert len(body["results"]) == 5
    first = body["results"][0]
    assert set(first) == {"product_id", "title", "brand", "category", "price", "rating", "in_stock", "score"}
    assert all("Sneakers" in r["category"] for r in body["results"])
    assert {"brand", "category", "price", "in_stock", "attributes"} <= set(body["facets"])
    assert body["degraded"] == []


def test_confident_misspelling_is_corrected_before_retrieval(api_client) -> None:
    body = search(api_client, q="runnig shoes", size=3)
    assert body["query"]["corrected"] == "running shoes" and body["query"]["did_you_mean"] is None
    assert all("Sneakers" in r["category"] for r in body["results"])


def test_zero_result_fallback_tries_the_correction(api_client) -> None:
    # "sofs" is too short to correct confidently (a did_you_mean), and as typed it matches nothing.
    body = search(api_client, q="sofs", size=3)
    assert body["total"] > 0
    assert body["query"]["corrected"] in ("sofa", "sofas") and body["query"]["did_you_mean"] is None
    assert all("Sofas" in r["category"] for r in body["results"])


def test_filters_are_hard_and_entities_are_soft(api_client) -> None:
    body = search(api_client, q="sneakers", brand=["Nike", "Adidas"], price_max=100, in_stock="true", size=50)
    assert body["results"]
    for result in body["results"]:
        assert result["brand"] in {"Nike", "Adidas"} and result["price"] <= 100 and result["in_stock"]
    # A colour named in the query boosts matching products (tests/unit/test_query_builder.py shows it
    # is a `should` clause, not a filter): red sneakers lead, though the text matches every colour.
    boosted = search(api_client, q="sneakers red", size=10)
    assert boosted["query"]["entities"]["color"] == ["red"]
    ids = [r["product_id"] for r in boosted["results"]]
    colors = [api_client.get(f"/v1/products/{i}").json()["attributes"].get("color") for i in ids]
    assert colors.count("red") >= 8


def test_attribute_and_category_filters(api_client) -> None:
    body = search(api_client, q="shoes", color="red", **{"attr.size": "10"}, category="sneakers", size=20)
    assert body["total"] > 0
    products = [api_client.get(f"/v1/products/{r['product_id']}").json() for r in body["results"][:5]]
    assert all(p["attributes"]["color"] == "red" and p["attributes"]["size"] == "10" for p in products)
    assert all(p["categories"][-1] == "Sneakers" for p in products)


def test_sort_orders(api_client) -> None:
    prices = [r["price"] for r in search(api_client, q="sofa", sort="price_asc", size=30)["results"]]
    assert prices == sorted(prices)
    prices = [r["price"] for r in search(api_client, q="sofa", sort="price_desc", size=30)["results"]]
    assert prices == sorted(prices, reverse=True)
    ratings = [r["rating"] for r in search(api_client, q="sofa", sort="rating", size=30)["results"]]
    assert [x for x in ratings if x is not None] == sorted(
        (x for x in ratings if x is not None), reverse=True
    )


@pytest.mark.parametrize("query", ["running shoes", "sofa", "phone case"])
def test_page_two_continues_page_one(api_client, query) -> None:
    whole = [r["product_id"] for r in search(api_client, q=query, size=40)["results"]]
    first = [r["product_id"] for r in search(api_client, q=query, size=20, page=1)["results"]]
    second = [r["product_id"] for r in search(api_client, q=query, size=20, page=2)["results"]]
    assert first + second == whole
    assert len(set(whole)) == 40


def test_pages_beyond_the_rerank_window_continue_without_duplicates(api_client) -> None:
    pages = [search(api_client, q="shoes", size=100, page=p)["results"] for p in (1, 2, 3)]
    ids = [r["product_id"] for page in pages for r in page]
    assert len(ids) == len(set(ids)) == 300


def test_explain_breaks_the_score_down(api_client) -> None:
    body = search(api_client, q="velvet sofa", explain="true", size=5)
    for result in body["results"]:
        parts = result["score_breakdown"]
        total = sum(
            parts[c]["value"] * parts[c]["weight"] for c in ("text", "popularity", "freshness", "affinity")
        )
        assert result["score"] == pytest.approx(total, abs=1e-5)
        assert all(0.0 <= parts[c]["value"] <= 1.0 for c in ("text", "popularity", "freshness", "affinity"))
        assert parts["opensearch_explanation"] and parts["bm25"] > 0
    assert body["results"][0]["score"] >= body["results"][-1]["score"]


def test_second_identical_search_is_a_cache_hit(api_client) -> None:
    params = {"q": f"sofa {uuid.uuid4().hex[:6]}", "size": 5}
    first = search(api_client, **params)
    second = search(api_client, **params)
    assert (first["cache_hit"], second["cache_hit"]) == (False, True)
    assert second["results"] == first["results"] and second["query_id"] != first["query_id"]


def test_products_and_suggest(api_client) -> None:
    product = api_client.get("/v1/products/P000001")
    assert product.status_code == 200 and product.json()["product_id"] == "P000001"
    missing = api_client.get("/v1/products/NOPE-1")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )
    suggestions = api_client.get("/v1/suggest", params={"q": "sams"}).json()["suggestions"]
    assert {"text": "Samsung", "kind": "brand"} in suggestions
    assert 1 <= len(suggestions) <= 10
    titles = api_client.get("/v1/suggest", params={"q": "iph"}).json()["suggestions"]
    assert titles and all("iphone" in s["text"].lower() for s in titles)


BAD_REQUESTS = [
    ({"q": "tv", "page": "abc"}, "page"),
    ({"q": "tv", "size": "1e3"}, "size"),
    ({"q": "tv", "size": "0"}, "size"),
    ({"q": "tv", "size": "101"}, "size"),
    ({"q": "tv", "price_min": "cheap"}, "price_min"),
    ({"q": "tv", "price_min": "50", "price_max": "10"}, "price_min"),
    ({"q": "tv", "sort": "cheapest"}, "sort"),
    ({"q": "tv", "page": "101", "size": "100"}, "10000"),
    ({"q": "tv", "in_stock": "maybe"}, "in_stock"),
    ({"q": "tv", "colour": "red"}, "colour"),
    ({"q": "\x00\x07\x1b"}, "empty"),
    ({"q": "   !!! ---"}, "empty"),
    ({"q": "x" * 300}, "limit"),
    ({"q": "shoes " * 2000}, "q"),
    ({}, "q"),
]


@pytest.mark.parametrize(("params", "mentions"), BAD_REQUESTS)
def test_bad_input_is_a_400_problem_never_a_500(api_client, params, mentions) -> None:
    response = api_client.get("/v1/search", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400 and len(body["trace_id"]) == 32
    assert mentions in (body.get("detail", "") + str(body.get("errors", ""))), body


def test_invalid_utf8_in_the_query_string_is_a_400(api_client) -> None:
    # Undecodable bytes become U+FFFD replacement characters, which normalization drops: nothing is left.
    response = api_client.get("/v1/search?q=%ff%fe%fd&size=3")
    assert response.status_code == 400
    assert "empty after normalization" in response.json()["detail"]


def test_results_carry_the_indexed_values_read_from_doc_values(
    app_client, engine, demo_catalog, alias
) -> None:
    """The candidate window comes from doc values; what a shopper sees must still be what was indexed,
    including a title too long for `title.keyword` (512 characters) and float32 ratings."""
    import msgspec

    from pipelines.indexing.versions import build_from_documents
    from tests.conftest import make_product

    long_title = "Walnut writing desk " + "with hand-finished dovetail drawers " * 20
    bookcase_title = ("Walnut bookcase " + "with adjustable oak shelves " * 25).strip()  # also > 512
    products = [
        make_product("LONG1", long_title.strip(), price=1249.99, rating=4.3, in_stock=False),
        make_product("SHORT1", "Walnut side table", price=19.99, rating=3.7),
        make_product("LONG2", bookcase_title, price=899.0),
    ]
    build_from_documents(engine, demo_catalog, alias, ((p.product_id, p.to_document()) for p in products), [])
    settings = msgspec.structs.replace(demo_catalog, products_alias=alias, cache_warm_queries=0)
    with app_client(settings) as client:
        body = search(client, q="walnut", size=10)
        by_id = {r["product_id"]: r for r in body["results"]}
        assert len(long_title.strip()) > 512
        assert by_id["LONG1"]["title"] == long_title.strip()
        assert by_id["LONG2"]["title"] == bookcase_title
        assert (by_id["LONG1"]["price"], by_id["LONG1"]["rating"], by_id["LONG1"]["in_stock"]) == (
            1249.99,
            4.3,
            False,
        )
        assert by_id["SHORT1"] | {"score": 0} == {
            "product_id": "SHORT1",
            "title": "Walnut side table",
            "brand": "Acme",
            "category": "Home & Kitchen > Furniture > Sofas",
            "price": 19.99,
            "rating": 3.7,
            "in_stock": True,
            "score": 0,
        }
        by_price = search(client, q="walnut", sort="price_asc")["results"]
        assert [r["product_id"] for r in by_price] == ["SHORT1", "LONG2", "LONG1"]
        # Explicit sorts read long titles the same way (one request for the page's long titles).
        assert [r["title"] for r in by_price[1:]] == [bookcase_title, long_title.strip()]


def test_numbers_in_the_query_become_filters_the_results_obey(api_client) -> None:
    body = search(api_client, q="dress under 30", size=50)
    assert body["query"]["applied_filters"] == [
        {"field": "price", "operator": "lte", "value": 30.0, "source": "under 30", "effect": "filter"}
    ]
    assert body["results"] and all(r["price"] <= 30 for r in body["results"])
    assert all("Dresses" in r["category"] for r in body["results"][:10])
    rated = search(api_client, q="5 star rated blender", size=50)
    assert rated["results"] and all(r["rating"] >= 4.5 for r in rated["results"])
    screens = search(api_client, q="55 inch tv", size=20)
    assert screens["results"] and all("55-inch" in r["title"] for r in screens["results"])


def test_match_quality_says_when_nothing_matches(api_client) -> None:
    sold = search(api_client, q="running shoes", size=10)
    assert sold["match_quality"] == "good" and not any(r.get("related") for r in sold["results"])
    for query in ("lawn mower", "tea kettle", "qwzxv plorkt"):
        absent = search(api_client, q=query, size=10)
        assert absent["match_quality"] == "none", (query, absent["match"])
        assert all(r["related"] for r in absent["results"])  # shown, if at all, as related items
    partly = search(api_client, q="office chair", size=10)
    assert partly["match_quality"] == "partial"

"""The OpenSearch request for a search: BM25 over the synonym analyzer, hard filters, soft entity
boosts and facet aggregations. Pure functions of their inputs, so they are unit-tested on their own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from quarry.api_keys import FixedFilters
from quarry.search.ranking import RankingConfig
from quarry.search.schemas import SearchRequest
from quarry.understanding.schemas import Entities

# The candidate window is read from doc values with no stored fields at all: loading `_id` and
# `_source` (stored fields) for 100 candidates cost OpenSearch about 0.7 ms of CPU per search, twice
# the whole query (docs/search-api.md#performance). `title.keyword` holds titles up to 512 characters;
# a longer title is fetched from `_source` for the page only.
DOCVALUE_FIELDS: list[str | dict[str, str]] = [
    "product_id",
    "title.keyword",
    "brand",
    "category_lvl1",
    "category_path",
    "price",
    "rating",
    "in_stock",
    {"field": "created_at", "format": "epoch_millis"},
    "popularity_score",
]
BodyScoring = Callable[[Mapping[str, Any]], dict[str, Any]]
"""A window request that also returns its hits' LTR features (`FeatureExtractor.scoring`)."""
SORTS: dict[str, list[dict[str, Any]]] = {
    "price_asc": [{"price": {"order": "asc", "missing": "_last"}}, {"product_id": "asc"}],
    "price_desc": [{"price": {"order": "desc", "missing": "_last"}}, {"product_id": "asc"}],
    "newest": [{"created_at": {"order": "desc", "missing": "_last"}}, {"product_id": "asc"}],
    "rating": [
        {"rating": {"order": "desc", "missing": "_last"}},
        {"review_count": "desc"},
        {"product_id": "asc"},
    ],
}
# Relevance needs no explicit sort: ties keep the index's internal order, which is stable for one
# index version, so page 2 continues page 1 (the window is re-sorted stably in Python), and letting
# OpenSearch sort by score alone is about 1 ms cheaper per query than a product_id tie-break.
PRICE_RANGES = [
    (None, 25.0),
    (25.0, 50.0),
    (50.0, 100.0),
    (100.0, 250.0),
    (250.0, 500.0),
    (500.0, 1000.0),
    (1000.0, None),
]
FACET_ATTRIBUTES = ("color", "size", "material")
FACET_SIZE = 20


def _term(field: str, value: str) -> dict[str, Any]:
    return {"term": {field: {"value": value, "case_insensitive": True}}}


CATEGORY_LEVELS = ("category_lvl1", "category_lvl2", "category_lvl3")


def _any_term(fields: tuple[str, ...], values: tuple[str, ...]) -> dict[str, Any]:
    """The product has one of the values in one of the fields."""
    should = [_term(field, value) for value in values for field in fields]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _shared_filters(
    category: tuple[str, ...],
    brand: tuple[str, ...],
    price_min: float | None,
    price_max: float | None,
    rating_min: float | None,
    in_stock: bool | None,
) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if category:
        filters.append(_any_term(CATEGORY_LEVELS, category))
    if brand:
        filters.append(_any_term(("brand",), brand))
    if price_min is not None or price_max is not None:
        bounds = {k: v for k, v in (("gte", price_min), ("lte", price_max)) if v is not None}
        filters.append({"range": {"price": bounds}})
    if rating_min is not None:
        filters.append({"range": {"rating": {"gte": rating_min}}})
    if in_stock is not None:
        filters.append({"term": {"in_stock": in_stock}})
    return filters


def filter_clauses(request: SearchRequest) -> list[dict[str, Any]]:
    """Explicit parameters are hard filters, and so are the API key's fixed filters: clauses of their
    own beside the request's, so together they only narrow (a request's brand outside the key's
    brands finds nothing, never more)."""
    filters = _shared_filters(
        (request.category,) if request.category else (),
        request.brand,
        request.price_min,
        request.price_max,
        request.rating_min,
        request.in_stock,
    )
    for key, value in request.attributes:
        filters.append({"term": {f"attributes.{key}": value.lower()}})
    return filters + key_filter_clauses(request.fixed)


def key_filter_clauses(fixed: FixedFilters) -> list[dict[str, Any]]:
    """An API key's fixed filters (docs/security.md#fixed-filters), for every query made for it."""
    if fixed.empty:
        return []
    return _shared_filters(
        fixed.category, fixed.brand, fixed.price_min, fixed.price_max, fixed.rating_min, fixed.in_stock
    )


def boost_clauses(entities: Entities, boosts: dict[str, float]) -> list[dict[str, Any]]:
    """Entities found in the query raise matching products; they never exclude others."""
    should: list[dict[str, Any]] = []
    for brand in entities.brand:
        should.append({"term": {"brand": {"value": brand, "boost": boosts.get("brand", 1.0)}}})
    for category in entities.category:
        for level in ("category_lvl1", "category_lvl2", "category_lvl3"):
            should.append({"term": {level: {"value": category, "boost": boosts.get("category", 1.0)}}})
    for series in entities.series:  # a product line is a phrase of its titles
        should.append({"match_phrase": {"title": {"query": series, "boost": boosts.get("series", 1.0)}}})
    for key in ("color", "size", "material"):
        for value in getattr(entities, key):
            should.append(
                {"term": {f"attributes.{key}": {"value": value.lower(), "boost": boosts.get(key, 1.0)}}}
            )
    return should


def facet_aggregations(attribute_keys: list[str]) -> dict[str, Any]:
    ranges = [{k: v for k, v in (("from", low), ("to", high)) if v is not None} for low, high in PRICE_RANGES]
    aggs: dict[str, Any] = {
        "brand": {"terms": {"field": "brand", "size": FACET_SIZE}},
        "category": {"terms": {"field": "category_path", "size": FACET_SIZE}},
        "price": {"range": {"field": "price", "ranges": ranges}},
        "in_stock": {"terms": {"field": "in_stock", "size": 2}},
    }
    for key in attribute_keys:
        aggs[f"attr:{key}"] = {"terms": {"field": f"attributes.{key}", "size": FACET_SIZE}}
    return aggs


def search_body(
    text: str,
    request: SearchRequest,
    entities: Entities,
    config: RankingConfig,
    *,
    start: int,
    size: int,
    minimum_should_match: str,
    with_facets: bool,
    exclude_ids: tuple[str, ...] = (),
    alternative: str | None = None,
) -> dict[str, Any]:
    """`exclude_ids`: products already placed on earlier pages (semantic candidates of the window).
    `alternative`: the same query spelt another way ("back pack" as "backpack"); a product matches
    either, scored by the better."""
    fields = [f"{field}^{boost}" for field, boost in config.field_boosts.items()]

    def matching(words: str) -> dict[str, Any]:
        return {
            "multi_match": {
                "query": words,
                "type": "cross_fields",
                "fields": fields,
                "minimum_should_match": minimum_should_match,
            }
        }

    text_query = (
        {"dis_max": {"queries": [matching(text), matching(alternative)]}} if alternative else matching(text)
    )
    body: dict[str, Any] = {
        "from": start,
        "size": size,
        "track_total_hits": True,
        "track_scores": True,
        "_source": False,
        "stored_fields": "_none_",
        "docvalue_fields": DOCVALUE_FIELDS,
        "query": {
            "bool": {
                "must": [text_query],
                "filter": filter_clauses(request),
                "should": boost_clauses(entities, config.entity_boosts),
            }
        },
    }
    if exclude_ids:
        body["query"]["bool"]["must_not"] = [{"terms": {"product_id": list(exclude_ids)}}]
    if request.sort in SORTS:
        body["sort"] = SORTS[request.sort]
    if with_facets:
        keys = list(dict.fromkeys([*FACET_ATTRIBUTES, *(k for k, _ in request.attributes)]))
        body["aggs"] = facet_aggregations(keys)
    if request.explain:
        body["explain"] = True
    return body


def _filtered(query: dict[str, Any], request: SearchRequest) -> dict[str, Any]:
    filters = filter_clauses(request)
    return {"bool": {"must": [query], "filter": filters}} if filters else query


def knn_body(vector: list[float], request: SearchRequest, k: int) -> dict[str, Any]:
    """Semantic candidates: lucene HNSW on `embedding` with the hard filters applied inside the k-NN
    search (efficient filtering), so a filter never empties a window found before filtering."""
    return _docvalues_body(k, {"knn": {"embedding": _knn_clause(vector, k, filter_clauses(request))}})


def knn_by_category_body(
    vector: list[float], request: SearchRequest, category_shares: Mapping[str, int]
) -> dict[str, Any]:
    """The nearest products of each category, as many as its share (quarry/category_prototypes.py
    `window_shares`): one k-NN clause per category, since one search filtered to all of them gives
    every place to the category nearest in the catalog model."""
    filters = filter_clauses(request)
    clauses = [
        {"knn": {"embedding": _knn_clause(vector, share, [*filters, {"term": {"category_path": path}}])}}
        for path, share in category_shares.items()
    ]
    return _docvalues_body(sum(category_shares.values()), {"bool": {"should": clauses}})


def _knn_clause(vector: list[float], k: int, filters: list[dict[str, Any]]) -> dict[str, Any]:
    clause: dict[str, Any] = {"vector": vector, "k": k}
    if filters:
        clause["filter"] = {"bool": {"filter": filters}}
    return clause


def _docvalues_body(size: int, query: dict[str, Any]) -> dict[str, Any]:
    return {
        "size": size,
        "_source": False,
        "stored_fields": "_none_",
        "docvalue_fields": DOCVALUE_FIELDS,
        "query": query,
    }


def ids_body(product_ids: list[str], request: SearchRequest) -> dict[str, Any]:
    """The records of given products that pass the hard filters (semantic candidates served by FAISS)."""
    return {
        "size": len(product_ids),
        "_source": False,
        "stored_fields": "_none_",
        "docvalue_fields": DOCVALUE_FIELDS,
        "query": _filtered({"terms": {"product_id": product_ids}}, request),
    }

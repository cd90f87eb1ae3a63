"""Feature values for a window of products: one OpenSearch request (the templated features as named
queries scored with `include_named_queries_score`, and the doc values the scripted ones read) plus
the service-side values the search already has. Logging, training and serving all call
`FeatureExtractor.extract`, so a feature means the same in all three.

Each scripted feature's Python function below computes what its painless script in the feature set
computes (tests/integration/test_ltr_features.py runs both on the same products)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from quarry.adapters.search_engine import Hit, SearchEngine
from quarry.ltr.featureset import FeatureSet, fill, template_text
from quarry.tracing import span
from quarry.understanding.schemas import UnderstoodQuery

MEDIANS_TTL_S = 600.0
DAY_MS = 86_400_000.0
DOCVALUE_FIELDS: list[str | dict[str, str]] = [
    "product_id",
    "popularity_score",
    "rating",
    "review_count",
    "price",
    "category_lvl1",
    "category_lvl2",
    "in_stock",
    {"field": "created_at", "format": "epoch_millis"},
]


class FeatureContext(msgspec.Struct, frozen=True):
    """One search's inputs to the features besides the products: exactly the `sltr` params a cluster
    with the plugin would be sent (`params()`)."""

    keywords: str
    corrected: str
    now_millis: int
    half_life_days: float
    entity_brand: str = ""
    entity_category: str = ""
    semantic: dict[str, float] = {}
    """Cosine of query and product vectors, by product id (exact, from the FAISS artifact)."""
    als: dict[str, float] = {}
    session_categories: dict[str, float] = {}
    keyword_ranks: dict[str, float] = {}
    """1 / rank among the keyword candidates, by product id."""
    semantic_ranks: dict[str, float] = {}
    category_medians: dict[str, float] = {}
    """Median price per level-2 category."""
    fused_relevance: dict[str, float] = {}
    """The keyword and semantic relevance fused as the formula's text term, by product id."""
    formula_scores: dict[str, float] = {}
    """The Phase-1 formula's final score, by product id: what the model improves on."""
    category_fit: dict[str, float] = {}
    """How well the product's category fits the query (quarry/category_prototypes.relative_fit), by
    product id: 1 for the best-fitting category."""

    def params(self) -> dict[str, Any]:
        built: dict[str, Any] = msgspec.to_builtins(self)
        return built

    def text_params(self) -> dict[str, str]:
        """The params the mustache templates read (the text ones), without converting the maps:
        those run to hundreds of entries, and building them cost every rescored search CPU."""
        return {name: value for name in TEXT_PARAMS if isinstance(value := getattr(self, name), str)}


TEXT_PARAMS = tuple(field.name for field in msgspec.structs.fields(FeatureContext) if field.type is str)


def template_params(understood: UnderstoodQuery) -> dict[str, str]:
    """The feature templates' text params: `keywords` is the query as normalized (what the shopper
    typed), `corrected` as searched (after an applied correction, without the words that became
    filters): the two differ exactly when understanding changed the query. Entities: the first brand
    and category the query names. Known before the window's requests, so they can score the
    templates (`FeatureExtractor.scored_in`)."""
    entities = understood.entities
    return {
        "keywords": understood.normalized,
        "corrected": understood.effective,
        "entity_brand": entities.brand[0] if entities.brand else "",
        "entity_category": entities.category[0] if entities.category else "",
    }


class ProductValues(msgspec.Struct, frozen=True):
    """The doc values the scripted features read, as OpenSearch returns them."""

    product_id: str
    popularity_score: float | None = None
    rating: float | None = None
    review_count: int | None = None
    price: float | None = None
    category_lvl1: str | None = None
    category_lvl2: str | None = None
    in_stock: bool | None = None
    created_at: int | None = None


Column = Callable[[Sequence[ProductValues], FeatureContext], list[float]]
"""A scripted feature over a window's products: a column, so that per-search state (a param's map,
the clock) is looked up once per window rather than once per product."""


def _by_product(param: str) -> Column:
    def column(products: Sequence[ProductValues], context: FeatureContext) -> list[float]:
        values: dict[str, float] = getattr(context, param)
        return [float(values.get(p.product_id, 0.0)) for p in products]

    return column


def _each(value: Callable[[ProductValues, FeatureContext], float]) -> Column:
    def column(products: Sequence[ProductValues], context: FeatureContext) -> list[float]:
        return [value(p, context) for p in products]

    return column


def _freshness(products: Sequence[ProductValues], context: FeatureContext) -> list[float]:
    now, half_life = context.now_millis, context.half_life_days
    return [
        0.0
        if p.created_at is None
        else float(math.pow(0.5, max(0.0, (now - p.created_at) / DAY_MS) / half_life))
        for p in products
    ]


def _price_ratio(products: Sequence[ProductValues], context: FeatureContext) -> list[float]:
    medians = context.category_medians
    ratios = []
    for p in products:
        median = medians.get(p.category_lvl2 or "")
        ratios.append(0.0 if p.price is None or median is None or median <= 0 else p.price / median)
    return ratios


def _session_affinity(products: Sequence[ProductValues], context: FeatureContext) -> list[float]:
    shares = context.session_categories
    return [float(shares.get(p.category_lvl1 or "", 0.0)) for p in products]


FORMULA_FEATURE = "formula_score"
"""The Phase-1 formula's final score as a feature: also how a logged window is put back in the
formula's order when a model ordered it."""

SCRIPTED: dict[str, Column] = {
    "semantic_similarity": _by_product("semantic"),
    "popularity": _each(
        lambda p, c: 0.0 if p.popularity_score is None else math.log1p(max(0.0, p.popularity_score))
    ),
    "rating": _each(lambda p, c: 0.0 if p.rating is None else float(p.rating)),
    "log_review_count": _each(lambda p, c: 0.0 if p.review_count is None else math.log1p(p.review_count)),
    "price_to_category_median": _price_ratio,
    "freshness": _freshness,
    "in_stock": _each(lambda p, c: 1.0 if p.in_stock else 0.0),
    "als_affinity": _by_product("als"),
    "session_affinity": _session_affinity,
    "keyword_reciprocal_rank": _by_product("keyword_ranks"),
    "semantic_reciprocal_rank": _by_product("semantic_ranks"),
    "fused_relevance": _by_product("fused_relevance"),
    FORMULA_FEATURE: _by_product("formula_scores"),
    "category_fit": _by_product("category_fit"),
}


class FeatureVectors(msgspec.Struct, frozen=True):
    """Feature values by product, in the feature set's order; products OpenSearch no longer has are
    left out."""

    featureset: str
    names: list[str]
    vectors: dict[str, list[float]]


def _first(fields: dict[str, list[Any]], name: str) -> Any:
    values = fields.get(name)
    return values[0] if values else None


def product_values(fields: dict[str, list[Any]]) -> ProductValues:
    created = _first(fields, "created_at")
    in_stock = _first(fields, "in_stock")
    return ProductValues(
        product_id=str(_first(fields, "product_id")),
        popularity_score=_first(fields, "popularity_score"),
        rating=_first(fields, "rating"),
        review_count=_first(fields, "review_count"),
        price=_first(fields, "price"),
        category_lvl1=_first(fields, "category_lvl1"),
        category_lvl2=_first(fields, "category_lvl2"),
        in_stock=in_stock if isinstance(in_stock, bool) else in_stock in ("true", 1),
        created_at=int(created) if created is not None else None,
    )


def _carrying(body: Mapping[str, Any], clauses: list[dict[str, Any]]) -> dict[str, Any]:
    scored = dict(body)
    kept = [body["post_filter"]] if "post_filter" in body else [{"match_all": {}}]
    scored["post_filter"] = {"bool": {"filter": kept, "should": clauses}}
    fields = list(body.get("docvalue_fields", []))
    present = {f if isinstance(f, str) else f["field"] for f in fields}
    fields += [f for f in DOCVALUE_FIELDS if (f if isinstance(f, str) else f["field"]) not in present]
    scored["docvalue_fields"] = fields
    return scored


class FeatureExtractor:
    def __init__(self, engine: SearchEngine, alias: str, featureset: FeatureSet) -> None:
        missing = [f.name for f in featureset.scripted if f.name not in SCRIPTED]
        if missing:
            raise ValueError(f"scripted features without a service-side implementation: {missing}")
        self._engine = engine
        self._alias = alias
        self.featureset = featureset
        self._names = featureset.names
        self._templated = {f.name for f in featureset.templated}
        # A one-clause bool scores as its clause and takes a `_name` whatever the clause is.
        self._clauses = template_text(
            [{"bool": {"must": [f.template], "_name": f.name}} for f in featureset.templated]
        )
        self._medians: tuple[float, dict[str, float]] = (float("-inf"), {})

    def category_medians(self) -> dict[str, float]:
        """Median price per level-2 category, refreshed every few minutes (prices change slowly; a
        logged vector keeps the value it was computed with)."""
        fetched_at, medians = self._medians
        if time.monotonic() - fetched_at < MEDIANS_TTL_S:
            return medians
        body = {
            "size": 0,
            "aggs": {
                "category": {
                    "terms": {"field": "category_lvl2", "size": 5000},
                    "aggs": {"median": {"percentiles": {"field": "price", "percents": [50]}}},
                }
            },
        }
        found = self._engine.search(self._alias, body).aggregations
        medians = {
            str(b["key"]): float(b["median"]["values"]["50.0"])
            for b in found.get("category", {}).get("buckets", [])
            if b["median"]["values"].get("50.0") is not None
        }
        self._medians = (time.monotonic(), medians)
        return medians

    def named_clauses(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every templated feature as a named clause (`params`: the templates' text params), rendered
        as `render` renders one, in a single pass over all of them."""
        clauses: list[dict[str, Any]] = json.loads(fill(self._clauses, params))
        return clauses

    def request_body(self, context: FeatureContext, product_ids: Sequence[str]) -> dict[str, Any]:
        return {
            "size": len(product_ids),
            "_source": False,
            # No stored fields at all, not even `_id` (the product id is a doc value): loading them for
            # a hundred hits cost OpenSearch about 2 ms of CPU per request (make bench-ltr-features).
            "stored_fields": "_none_",
            "docvalue_fields": DOCVALUE_FIELDS,
            "query": {
                "bool": {
                    "filter": [{"terms": {"product_id": list(product_ids)}}],
                    "should": self.named_clauses(context.text_params()),
                }
            },
        }

    def scored_in(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        """A retrieval request that also returns its hits' features, so that a window rescored by a
        model needs no request of its own: the named clauses sit in the post filter beside a filter
        that every hit passes, so they match and score nothing there (optional clauses of a
        non-scoring bool are not run), and OpenSearch scores each alone for the returned hits only
        (`include_named_queries_score`). The doc values the scripts read are added."""
        return _carrying(body, self.named_clauses(params))

    def scoring(self, understood: UnderstoodQuery) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        """`scored_in` for the requests of a search understood so (its clauses rendered once)."""
        clauses = self.named_clauses(template_params(understood))
        return lambda body: _carrying(body, clauses)

    def _vectors(
        self, ids: Sequence[str], hits: Sequence[Hit], context: FeatureContext
    ) -> dict[str, list[float]]:
        """The hits' vectors by the given ids, computed a column (a feature) at a time."""
        products = [product_values(hit.fields) for hit in hits]
        matched = [hit.matched or {} for hit in hits]
        columns = [
            [float(m.get(name, 0.0)) for m in matched]
            if name in self._templated
            else SCRIPTED[name](products, context)
            for name in self._names
        ]
        return {pid: list(row) for pid, row in zip(ids, zip(*columns, strict=True), strict=True)}

    def extract(self, context: FeatureContext, product_ids: Sequence[str]) -> FeatureVectors:
        names = self.featureset.names
        if not product_ids:
            return FeatureVectors(self.featureset.name, names, {})
        with span("ltr.features", {"quarry.candidates": len(product_ids)}):
            body = self.request_body(context, product_ids)
            found = self._engine.search(self._alias, body, named_scores=True)
        ids = [str(_first(hit.fields, "product_id")) for hit in found.hits]
        return FeatureVectors(self.featureset.name, names, self._vectors(ids, found.hits, context))

    def vectors_for(self, context: FeatureContext, hits: Sequence[Hit]) -> FeatureVectors:
        """The features of a window's hits: from their own search's response where it carried them
        (`scored_in`; the same named queries and doc values, so the same values), with one request
        for the rest (a window whose retrieval did not ask, or a candidate from another request)."""
        carried = [hit for hit in hits if hit.matched is not None]
        vectors = self._vectors([hit.id for hit in carried], carried, context)
        rest = [hit.id for hit in hits if hit.matched is None]
        if rest:
            vectors.update(self.extract(context, rest).vectors)
        ordered = {hit.id: vectors[hit.id] for hit in hits if hit.id in vectors}
        return FeatureVectors(self.featureset.name, self.featureset.names, ordered)

"""The feature request of a window (quarry/ltr/features.py): the templates get exactly the text
params of the search, escaped, and the request asks for the window's products only; a window
request that carries the features instead keeps its query, facets and doc values."""

from __future__ import annotations

from quarry.ltr.features import FeatureContext, FeatureExtractor, template_params
from quarry.ltr.featureset import load_featureset
from quarry.settings import Settings
from quarry.understanding.schemas import Entities, UnderstoodQuery

CONTEXT = FeatureContext(
    keywords='red "desk" lamp',
    corrected="red desk lamp",
    now_millis=1_764_000_000_000,
    half_life_days=30.0,
    entity_brand="Lumo",
    semantic={"p1": 0.8, "p2": 0.4},
    category_medians={"Lamps": 39.0},
)


def test_the_templates_read_the_text_params_and_nothing_else() -> None:
    assert CONTEXT.text_params() == {
        "keywords": 'red "desk" lamp',
        "corrected": "red desk lamp",
        "entity_brand": "Lumo",
        "entity_category": "",
    }


def test_the_request_names_every_templated_feature_and_filters_to_the_window() -> None:
    featureset = load_featureset(Settings().ltr_featureset)
    body = FeatureExtractor(None, "products", featureset).request_body(CONTEXT, ["p1", "p2"])  # type: ignore[arg-type]
    named = body["query"]["bool"]["should"]
    assert [clause["bool"]["_name"] for clause in named] == [f.name for f in featureset.templated]
    assert body["query"]["bool"]["filter"] == [{"terms": {"product_id": ["p1", "p2"]}}]
    assert body["size"] == 2
    # Doc values only: no `_source` and no stored fields at all (not even `_id`), which OpenSearch
    # would otherwise load for every hit.
    assert body["_source"] is False and body["stored_fields"] == "_none_"
    assert "product_id" in body["docvalue_fields"]
    assert "{{" not in str(named)  # every param filled in
    by_name = {clause["bool"]["_name"]: clause["bool"]["must"][0] for clause in named}
    # The quote in the shopper's words survives as text: escaped in the template, not breaking out.
    assert by_name["typed_title_bm25"] == {"match": {"title": 'red "desk" lamp'}}
    # The other text features read the query as searched: a typo's BM25 is not near zero everywhere.
    assert by_name["title_bm25"] == {"match": {"title": "red desk lamp"}}


def test_a_window_request_carries_the_features_without_changing_what_it_matches_or_scores() -> None:
    featureset = load_featureset(Settings().ltr_featureset)
    extractor = FeatureExtractor(None, "products", featureset)  # type: ignore[arg-type]
    window = {
        "size": 100,
        "query": {"multi_match": {"query": "red desk lamp", "fields": ["title"]}},
        "docvalue_fields": ["product_id", "price"],
        "aggs": {"brand": {"terms": {"field": "brand"}}},
    }
    scored = extractor.scored_in(window, CONTEXT.text_params())
    assert {k: v for k, v in scored.items() if k not in ("post_filter", "docvalue_fields")} == {
        k: v for k, v in window.items() if k != "docvalue_fields"
    }
    assert window["docvalue_fields"] == ["product_id", "price"]  # the caller's body is not changed
    post = scored["post_filter"]["bool"]
    # Every hit passes; the named clauses are optional beside a filter, so they filter nothing.
    assert post["filter"] == [{"match_all": {}}]
    assert [c["bool"]["_name"] for c in post["should"]] == [f.name for f in featureset.templated]
    fields = [f if isinstance(f, str) else f["field"] for f in scored["docvalue_fields"]]
    assert fields[:2] == ["product_id", "price"] and len(fields) == len(set(fields))
    assert {"review_count", "category_lvl2", "created_at"} <= set(fields)

    brand_only = {**window, "post_filter": {"term": {"brand": "Lumo"}}}
    narrowed = extractor.scored_in(brand_only, CONTEXT.text_params())
    assert narrowed["post_filter"]["bool"]["filter"] == [{"term": {"brand": "Lumo"}}]


def test_the_template_params_of_a_search_are_the_query_as_typed_and_as_searched() -> None:
    understood = UnderstoodQuery(
        original="Lumo red desk lamp under 30",
        normalized="lumo red desk lamp under 30",
        corrected=None,
        did_you_mean=None,
        correction_confidence=0.0,
        intent="product",
        entities=Entities(brand=("Lumo",), category=("Lamps", "Lighting")),
        searched="lumo red desk lamp",
    )
    assert template_params(understood) == {
        "keywords": "lumo red desk lamp under 30",
        "corrected": "lumo red desk lamp",
        "entity_brand": "Lumo",
        "entity_category": "Lamps",
    }

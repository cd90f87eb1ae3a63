"""The feature request of a window (quarry/ltr/features.py): the templates get exactly the text
params of the search, escaped, and the request asks for the window's products only."""

from __future__ import annotations

from quarry.ltr.features import FeatureContext, FeatureExtractor
from quarry.ltr.featureset import load_featureset
from quarry.settings import Settings

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
    assert by_name["title_bm25"] == {"match": {"title": 'red "desk" lamp'}}
    assert by_name["corrected_title_bm25"] == {"match": {"title": "red desk lamp"}}

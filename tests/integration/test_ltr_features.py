"""LTR features on the real cluster (docs/ltr.md#features): the templated features computed as named
queries in one request score what each query scores alone, every scripted feature's painless
script (what a cluster with the plugin runs) gives what the service computes in Python, and a
window's own requests carry the same features without changing what they find."""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path

import msgspec
import pytest

import quarry.search
from quarry.ltr.features import SCRIPTED, FeatureContext, FeatureExtractor
from quarry.ltr.featureset import load_featureset, render
from quarry.search.candidates import from_docvalues
from quarry.search.query_builder import knn_body, search_body
from quarry.search.ranking import load_config_file
from quarry.search.schemas import SearchRequest
from quarry.understanding.schemas import Entities


@pytest.fixture(scope="module")
def window(engine, demo_catalog) -> list[str]:
    body = {
        "size": 40,
        "_source": False,
        "docvalue_fields": ["product_id"],
        "query": {"match": {"title": "laptop"}},
    }
    laptops = [h.fields["product_id"][0] for h in engine.search(demo_catalog.products_alias, body).hits]
    others = [f"P{n:06d}" for n in range(1, 41)]
    return list(dict.fromkeys([*laptops[:30], *others]))


def context(ids: list[str]) -> FeatureContext:
    return FeatureContext(
        keywords="gaming laptop",
        corrected="gaming laptop",
        now_millis=int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp() * 1000),
        half_life_days=180.0,
        entity_brand="Asus",
        entity_category="Laptops",
        semantic={pid: 0.01 * (i % 50) for i, pid in enumerate(ids)},
        als={pid: 0.5 for pid in ids[::3]},
        session_categories={"Electronics": 0.75},
        keyword_ranks={pid: 1 / (i + 1) for i, pid in enumerate(ids[:20])},
        semantic_ranks={pid: 1 / (i + 1) for i, pid in enumerate(reversed(ids[-20:]))},
        category_fit={pid: 1 / (1 + i % 7) for i, pid in enumerate(ids[:-5])},
    )


def test_the_feature_set_is_complete_and_its_params_are_the_context(demo_catalog) -> None:
    featureset = load_featureset()
    fields = set(FeatureContext.__struct_fields__)
    assert featureset.params and set(featureset.params) <= fields
    assert {f.name for f in featureset.scripted} == set(SCRIPTED)
    string_params = {p for f in featureset.templated for p in f.params}
    hints = typing.get_type_hints(FeatureContext)
    assert all(hints[p] is str for p in string_params)  # mustache renders text


def test_named_query_scores_are_each_querys_own_score(engine, demo_catalog, window) -> None:
    featureset = load_featureset()
    extractor = FeatureExtractor(engine, demo_catalog.products_alias, featureset)
    ctx = context(window)
    extracted = extractor.extract(ctx, window)
    assert set(extracted.vectors) == set(window)
    params = ctx.text_params()
    for feature in featureset.templated:
        column = featureset.names.index(feature.name)
        alone = engine.search(
            demo_catalog.products_alias,
            {
                "size": len(window),
                "_source": False,
                "docvalue_fields": ["product_id"],
                "query": {
                    "bool": {
                        "must": [render(feature.template, params)],
                        "filter": [{"terms": {"product_id": window}}],
                    }
                },
            },
        )
        expected = {h.fields["product_id"][0]: h.score or 0.0 for h in alone.hits}
        for pid, vector in extracted.vectors.items():
            assert vector[column] == pytest.approx(expected.get(pid, 0.0), rel=1e-5, abs=1e-6), (
                feature.name,
                pid,
            )
    title = featureset.names.index("title_bm25")
    assert sum(1 for v in extracted.vectors.values() if v[title] > 0) >= 10  # laptops match
    assert sum(1 for v in extracted.vectors.values() if v[title] == 0) >= 10  # the others do not


def test_every_scripted_feature_is_what_its_painless_script_computes(engine, demo_catalog, window) -> None:
    featureset = load_featureset()
    extractor = FeatureExtractor(engine, demo_catalog.products_alias, featureset)
    ctx = msgspec.structs.replace(context(window), category_medians=extractor.category_medians())
    assert ctx.category_medians  # the catalog has priced categories
    extracted = extractor.extract(ctx, window)
    sltr_params = ctx.params()
    for feature in featureset.scripted:
        column = featureset.names.index(feature.name)
        # As the plugin runs it: the script over every product, with the feature's params.
        script = {**feature.template, "params": {p: sltr_params[p] for p in feature.params}}
        scored = engine.search(
            demo_catalog.products_alias,
            {
                "size": len(window),
                "_source": False,
                "docvalue_fields": ["product_id"],
                "query": {
                    "function_score": {
                        "query": {"terms": {"product_id": window}},
                        "script_score": {"script": script},
                        "boost_mode": "replace",
                    }
                },
            },
        )
        in_cluster = {h.fields["product_id"][0]: h.score or 0.0 for h in scored.hits}
        assert set(in_cluster) == set(window)
        for pid, vector in extracted.vectors.items():
            # OpenSearch scores are float32: agreement to float32 precision.
            assert vector[column] == pytest.approx(in_cluster[pid], rel=1e-5, abs=1e-6), (feature.name, pid)
    nonzero = {
        name
        for name in featureset.names
        if any(v[featureset.names.index(name)] for v in extracted.vectors.values())
    }
    assert {"popularity", "rating", "price_to_category_median", "freshness", "als_affinity"} <= nonzero


def _window_requests(engine, alias: str) -> dict[str, dict]:
    """The window's own requests as the service sends them: the keyword window with its facets, and
    the k-NN window around a product's vector."""
    config = load_config_file(Path(quarry.search.__file__).parent / "ranking.json")
    request = SearchRequest(q="gaming laptop")
    keyword = search_body(
        "gaming laptop",
        request,
        Entities(),
        config,
        start=0,
        size=config.window,
        minimum_should_match=config.minimum_should_match,
        with_facets=True,
    )
    nearest = {"size": 1, "_source": ["embedding"], "query": {"match": {"title": "laptop"}}}
    laptop = engine.search(alias, nearest)
    return {"keyword": keyword, "knn": knn_body(laptop.hits[0].source["embedding"], request, config.window)}


@pytest.mark.parametrize("side", ["keyword", "knn"])
def test_a_window_request_carries_its_hits_features_and_finds_what_it_found_without(
    engine, demo_catalog, side
) -> None:
    """A rescored window takes its features from its own requests (no request of its own): the same
    products, scores and facets as without, and for every hit the vector the feature request
    computes."""
    alias = demo_catalog.products_alias
    featureset = load_featureset()
    extractor = FeatureExtractor(engine, alias, featureset)
    body = _window_requests(engine, alias)[side]
    plain = engine.search(alias, body)
    ids = [h.fields["product_id"][0] for h in plain.hits]
    ctx = msgspec.structs.replace(context(ids), category_medians=extractor.category_medians())
    scored = engine.search(alias, extractor.scored_in(body, ctx.text_params()), named_scores=True)

    assert [(h.fields["product_id"][0], h.score) for h in scored.hits] == [
        (pid, h.score) for pid, h in zip(ids, plain.hits, strict=True)
    ]
    assert (scored.total, scored.aggregations) == (plain.total, plain.aggregations)
    assert all(h.matched is not None for h in scored.hits) and plain.hits[0].matched is None

    requested = []
    extract = extractor.extract

    def counted(context, product_ids):
        requested.extend(product_ids)
        return extract(context, product_ids)

    extractor.extract = counted  # type: ignore[method-assign]
    hits = [from_docvalues(h) for h in scored.hits]
    stale = from_docvalues(plain.hits[-1])  # a hit whose request did not ask: fetched on its own
    carried = extractor.vectors_for(ctx, [*hits[:-1], stale])
    assert requested == [stale.id]
    alone = extract(ctx, ids)
    assert list(carried.vectors) == ids
    for pid in ids:
        assert carried.vectors[pid] == pytest.approx(alone.vectors[pid], rel=1e-6, abs=1e-9), pid
    title = featureset.names.index("title_bm25")
    assert sum(1 for v in carried.vectors.values() if v[title] > 0) >= 10

"""Semantic and hybrid search on the real stack: the demo catalog with its embeddings in OpenSearch
(k-NN) and its FAISS artifact, queried through the API."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.adapters.search_engine import OpenSearchEngine, SearchEngineError, SearchResponse
from quarry.vector_index import ARTIFACT, INDEX_FILE

CONCEPTUAL = "something to keep a drink cold on a hike"


def search(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def leaf(result: dict[str, Any]) -> str:
    return str(result["category"].split(" > ")[-1])


def test_a_conceptual_query_finds_what_keywords_miss(api_client) -> None:
    body = search(api_client, q=CONCEPTUAL, size=10, explain="true")
    assert body["retrieval"]["mode"] == "hybrid" and body["retrieval"]["semantic_candidates"] > 0
    assert body["retrieval"]["fusion"] == "weighted"
    assert sum(leaf(r) == "Drinkware" for r in body["results"]) >= 8
    breakdown = body["results"][0]["score_breakdown"]
    assert 0 < breakdown["semantic"] <= 1 and 0 < breakdown["fused"] <= 1
    assert body["degraded"] == []


def test_hard_filters_apply_inside_the_knn_search(api_client) -> None:
    body = search(
        api_client, q="gear for spending the night in the woods", brand="REI Co-op", price_max=150, size=20
    )
    assert body["retrieval"]["semantic_candidates"] > 0
    assert body["results"], "filtered k-NN still finds candidates"
    for result in body["results"]:
        assert result["brand"] == "REI Co-op" and result["price"] <= 150
    assert sum(leaf(r) == "Camping" for r in body["results"]) >= len(body["results"]) // 2


def test_keyword_queries_keep_their_keyword_results(api_client) -> None:
    body = search(api_client, q="running shoes", size=10)
    assert body["retrieval"]["mode"] == "hybrid"
    assert all(leaf(r) == "Sneakers" for r in body["results"])


def test_explicit_sorts_stay_keyword_only(api_client) -> None:
    body = search(api_client, q="insulated water bottle", sort="price_asc", size=10)
    assert body["retrieval"] == {
        "mode": "keyword",
        "keyword_candidates": 0,
        "semantic_candidates": 0,
        "fusion": None,
        "best_similarity": None,
        "categories": None,
    }
    prices = [r["price"] for r in body["results"]]
    assert prices == sorted(prices)


def settings_with(demo_catalog, **changes: Any):
    return msgspec.structs.replace(demo_catalog, cache_warm_queries=0, search_cache_ttl_s=0, **changes)


def test_a_damaged_faiss_file_degrades_to_keyword_reranking_without_failing(
    app_client, demo_catalog, tmp_path
) -> None:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(demo_catalog.artifacts_dir, artifacts)
    version = (artifacts / ARTIFACT / "CURRENT").read_text().strip()
    index_file = artifacts / ARTIFACT / version / INDEX_FILE
    index_file.write_bytes(index_file.read_bytes()[:1000])  # truncated
    with app_client(settings_with(demo_catalog, artifacts_dir=str(artifacts))) as client:
        assert client.get("/health/ready").status_code == 200
        body = search(client, q=CONCEPTUAL, size=10)
        assert "vector_index" in body["degraded"]
        # k-NN from OpenSearch still serves semantic candidates.
        assert body["retrieval"]["mode"] == "hybrid" and body["retrieval"]["semantic_candidates"] > 0
        assert body["results"]


def test_an_unavailable_model_leaves_search_keyword_only(app_client, demo_catalog) -> None:
    with app_client(settings_with(demo_catalog, embedding_model="not-a-shipped-model")) as client:
        body = search(client, q="running shoes", size=5)
        assert "embedding_model" in body["degraded"]
        assert body["retrieval"]["mode"] == "keyword" and len(body["results"]) == 5


class KnnFailingEngine(OpenSearchEngine):
    """The real engine, except that every k-NN query fails as if the plugin were unavailable."""

    def search(self, index: str, body: Mapping[str, Any], named_scores: bool = False) -> SearchResponse:
        if "knn" in body.get("query", {}):
            raise SearchEngineError("k-NN unavailable (injected)", 500)
        return super().search(index, body, named_scores)


def test_faiss_serves_semantic_candidates_when_knn_fails(app_client, demo_catalog) -> None:
    engine = KnnFailingEngine(demo_catalog.opensearch_url)
    with app_client(settings_with(demo_catalog), engine=engine) as client:
        body = search(client, q=CONCEPTUAL, size=10, brand="Hydro Flask")
        assert "knn" in body["degraded"]
        assert body["retrieval"]["semantic_candidates"] > 0
        assert body["results"] and all(r["brand"] == "Hydro Flask" for r in body["results"])
    engine.close()


def test_a_new_faiss_artifact_is_swapped_in_while_searches_run(app_client, demo_catalog, tmp_path) -> None:
    from quarry.vector_index import load_vector_index, publish_vector_index

    artifacts = tmp_path / "artifacts"
    shutil.copytree(demo_catalog.artifacts_dir, artifacts)
    store = LocalArtifactStore(artifacts)
    settings = settings_with(demo_catalog, artifacts_dir=str(artifacts), artifact_reload_interval_s=0.05)
    failures: list[str] = []
    stop = threading.Event()
    with app_client(settings) as client:
        service = client.app.state.search_service
        before = service.semantic.index.version

        def shop() -> None:
            while not stop.is_set():
                response = client.get("/v1/search", params={"q": CONCEPTUAL, "size": 5})
                if response.status_code != 200 or response.json()["degraded"]:
                    failures.append(response.text)

        shoppers = [threading.Thread(target=shop) for _ in range(3)]
        for thread in shoppers:
            thread.start()
        index, metadata = load_vector_index(store, before)
        publish_vector_index(
            store, index, index.ids, metadata.model, metadata.model_version, metadata.source_index
        )
        for _ in range(100):
            search(client, q=CONCEPTUAL, size=5)
            if service.semantic.index.version != before:
                break
        stop.set()
        for thread in shoppers:
            thread.join()
        assert service.semantic.index.version != before
    assert failures == []


def test_conceptual_golden_queries_share_no_word_with_their_relevant_titles(engine, demo_catalog) -> None:
    """The conceptual subset measures what keywords cannot do: after the index's own stemming, no word
    of such a query appears in the title of any product graded 3 or 4 for it."""
    from pipelines.golden import load_judgments, load_queries

    judgments = load_judgments()
    conceptual = [q for q in load_queries() if q.kind == "conceptual"]
    assert len(conceptual) >= 40
    for query in conceptual:
        relevant = [pid for pid, grade in judgments[query.query].items() if grade >= 3]
        assert relevant, query.query
        # Titles analyzed as indexed (stemmed, stop words dropped) matched against the query's words.
        body = {
            "size": 3,
            "_source": ["title"],
            "query": {
                "bool": {
                    "filter": [{"ids": {"values": relevant}}],
                    "must": [{"match": {"title": {"query": query.query, "analyzer": "english_index"}}}],
                }
            },
        }
        overlapping = engine.search(demo_catalog.products_alias, body)
        assert overlapping.total == 0, (query.query, [h.source["title"] for h in overlapping.hits])


def prototype_fit(client: TestClient, demo_catalog: Any, query: str) -> tuple[dict[str, float], Any]:
    """How well each category prototype fits a query, computed here from the artifact's files and the
    query vectors the service uses (not through the code under test), and the catalog model's query
    vector. The router's prototypes decide when the artifact has them (the default)."""
    import json
    from pathlib import Path

    import numpy as np

    from quarry.category_prototypes import CATEGORIES_FILE, ROUTER_FILE

    semantic = client.app.state.search_service.semantic
    artifacts = Path(demo_catalog.artifacts_dir) / ARTIFACT
    current = artifacts / (artifacts / "CURRENT").read_text().strip()
    query_vector = semantic.vectors.vector(query)
    if (current / ROUTER_FILE).exists():
        stored = json.loads((current / ROUTER_FILE).read_text())["prototypes"]
        fitted = semantic.router_vectors.vector(query)
    else:
        stored, fitted = json.loads((current / CATEGORIES_FILE).read_text()), query_vector
    centroids = np.asarray(stored["centroids"], dtype=np.float32)
    return dict(zip(stored["paths"], (float(x) for x in centroids @ fitted), strict=True)), query_vector


def test_descriptive_queries_are_routed_by_the_router_models_prototypes(api_client, demo_catalog) -> None:
    """The demo catalog's artifact carries mpnet prototypes from a sample of each category's products,
    and the service encodes router queries with the same model."""
    from quarry.vector_index import load_vector_index

    store = LocalArtifactStore(demo_catalog.artifacts_dir)
    loaded, _ = load_vector_index(store, store.current(ARTIFACT))
    assert loaded.router is not None and loaded.categories is not None
    assert loaded.router.model == demo_catalog.category_router_model == "all-mpnet-base-v2"
    assert loaded.router.prototypes.dimension == 768 and loaded.categories.dimension == 384
    assert loaded.router.prototypes.paths == loaded.categories.paths
    assert max(loaded.router.prototypes.products) <= demo_catalog.category_router_products
    encoder = api_client.app.state.search_service.semantic.router_vectors.encoder
    assert (encoder.model_name, encoder.model_version) == (loaded.router.model, loaded.router.model_version)
    assert encoder.variant == "onnx-fp32"  # its export, as `make embeddings` writes it: no torch to start


def stored_products(engine: Any, demo_catalog: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
    ids = [r["product_id"] for r in results]
    docs = engine.search(
        demo_catalog.products_alias,
        {"size": len(ids), "query": {"ids": {"values": ids}}, "_source": ["embedding", "category_path"]},
    )
    return {h.id: h.source for h in docs.hits}


def test_a_descriptive_query_ranks_products_by_how_well_their_category_fits(
    api_client, engine, demo_catalog
) -> None:
    """For a query in the shopper's own words, a product's semantic relevance is its cosine less its
    category's shortfall from the best-fitting category; a query in the catalog's words keeps the
    plain cosine."""
    import numpy as np

    weight = api_client.app.state.search_service.ranking.get().category_weight_descriptive
    assert weight > 0

    def checked(query: str) -> tuple[dict[str, Any], int]:
        body = search(api_client, q=query, size=30, explain="true")
        by_id = stored_products(engine, demo_catalog, body["results"])
        fit, query_vector = prototype_fit(api_client, demo_catalog, query)
        best = max(fit.values())
        adjusted = 0
        for result in body["results"]:
            source = by_id[result["product_id"]]
            cosine = float(np.asarray(source["embedding"], dtype=np.float32) @ query_vector)
            gap = best - fit[source["category_path"]]
            # docs/query-understanding.md#descriptive-queries: two words or more, and most of them
            # not the shop's, or three or more found only apart while naming nothing.
            words = body["match"]
            entities = any(body["query"]["entities"].values())
            descriptive = words["content_words"] >= 2 and (
                words["known_words"] < words["content_words"] / 2
                or (words["keyword_match"] == "relaxed" and words["content_words"] >= 3 and not entities)
            )
            expected = cosine - weight * gap if descriptive else cosine
            if 0.0 < expected < 1.0:  # fusion clips to [0, 1]
                assert result["score_breakdown"]["semantic"] == pytest.approx(expected, abs=2e-3), result
                adjusted += gap > 0.01
        return body, adjusted

    described, adjusted = checked("a gift for my dad who loves the outdoors")
    assert described["match"]["known_words"] < described["match"]["content_words"] / 2
    assert adjusted > 0, "some result lies outside the best-fitting category"
    named, _ = checked("stainless steel water bottle")
    assert named["match"]["known_words"] == named["match"]["content_words"]


def test_a_description_in_plain_words_also_searches_the_categories_that_fit_it(
    api_client, engine, demo_catalog
) -> None:
    """Products of the two best-fitting categories join the window even below the similarity floor
    when the words are words; a keyboard mash gets no such help, so the floor still keeps it out."""
    import numpy as np

    config = api_client.app.state.search_service.ranking.get()
    floor = config.semantic_floor(api_client.app.state.search_service.semantic.model)
    assert config.category_candidates_descriptive > 0

    def below_floor(query: str) -> tuple[dict[str, Any], list[str]]:
        body = search(api_client, q=query, size=100, explain="true")
        assert body["degraded"] == []
        # Semantic candidates only: keyword matches (and the keyword tail after the window, which has
        # no breakdown) never needed the floor.
        semantic = [
            r for r in body["results"] if r.get("score_breakdown") and r["score_breakdown"]["keyword"] is None
        ]
        by_id = stored_products(engine, demo_catalog, semantic)
        searched = body["query"]["corrected"] or body["query"]["normalized"]
        fit, query_vector = prototype_fit(api_client, demo_catalog, searched)
        best_two = sorted(fit, key=lambda path: -fit[path])[:2]
        assert body["retrieval"]["categories"] in (best_two, None)
        found = []
        for pid, source in by_id.items():
            if float(np.asarray(source["embedding"], dtype=np.float32) @ query_vector) < floor:
                assert source["category_path"] in best_two, (pid, source["category_path"])
                found.append(pid)
        return body, found

    described, admitted = below_floor("ride to the office without a car")
    assert described["match"]["known_words"] < described["match"]["content_words"] / 2
    assert admitted, "products of the best-fitting categories below the floor"
    assert described["retrieval"]["categories"]  # the response says which categories were searched
    mash, admitted = below_floor("xqzv kkrtw pflmj")
    assert mash["query"]["corrected"] is None and mash["retrieval"]["categories"] is None
    assert admitted == [] and mash["match_quality"] == "none"


def test_a_description_in_words_the_titles_use_one_by_one_is_still_a_description(api_client) -> None:
    """Half of this query's words are the shop's ("drinks", "cold", "garden", ...), so the share of
    shop words alone does not call it a description; but no product has them together (only the
    relaxed keyword match finds anything), it names nothing and it has more than two content words, so
    meaning decides and the categories that fit it are searched. Two words found only apart ("wool
    sweater") are a product named otherwise, and words found together a product named."""
    body = search(
        api_client, q="something to keep the drinks cold at a garden party", size=10, explain="true"
    )
    match = body["match"]
    assert 2 * match["known_words"] >= match["content_words"] >= 3, match
    assert match["keyword_match"] == "relaxed"
    searched = body["retrieval"]["categories"]
    assert searched, "routed as a description"
    assert sum(r["category"] in searched for r in body["results"]) >= 8, [
        r["category"] for r in body["results"]
    ]
    assert all(r["score_breakdown"]["weights_for"] for r in body["results"])
    for named in ("wool sweater", "stainless steel water bottle"):
        assert search(api_client, q=named, size=10)["retrieval"]["categories"] is None, named


def test_each_category_a_description_fits_gets_its_share_of_the_window(
    api_client, engine, demo_catalog
) -> None:
    """The best-fitting categories are searched one by one: a category whose product texts share few
    of the query's words (bags, for textbooks carried to school) still gets products into the window,
    next to the one whose texts share them (picture books)."""
    import collections

    body = search(api_client, q="haul my textbooks to school", size=100, explain="true")
    searched = body["retrieval"]["categories"]
    assert searched and len(searched) == 2, body["retrieval"]
    semantic = [
        r for r in body["results"] if r.get("score_breakdown") and r["score_breakdown"]["keyword"] is None
    ]
    by_id = stored_products(engine, demo_catalog, semantic)
    per_category = collections.Counter(source["category_path"] for source in by_id.values())
    assert all(per_category[path] > 0 for path in searched), (searched, per_category)


def test_cold_start_products_get_content_based_similar_items(api_client, engine, demo_catalog) -> None:
    # The demo fixture has no ALS model: every product is cold, so similar items come from embeddings.
    drinkware = engine.search(
        demo_catalog.products_alias,
        {"size": 1, "query": {"term": {"category_lvl3": "Drinkware"}}, "_source": ["product_id"]},
    ).hits[0]
    body = api_client.get("/v1/recommendations", params={"product_id": drinkware.id, "k": 10}).json()
    assert body["strategy"] == "similar_content" and body["product_id"] == drinkware.id
    ids = [item["product_id"] for item in body["items"]]
    assert len(ids) == 10 and drinkware.id not in ids
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    leaves = [api_client.get(f"/v1/products/{pid}").json()["category_path"].split(" > ")[-1] for pid in ids]
    assert leaves.count("Drinkware") >= 8
    unknown = api_client.get("/v1/recommendations", params={"product_id": "NO-SUCH-PRODUCT"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_queries_are_encoded_by_the_onnx_export_or_by_torch_when_it_is_missing(
    app_client, demo_catalog, tmp_path
) -> None:
    with app_client(settings_with(demo_catalog, query_encoder="onnx-int8")) as client:
        assert client.app.state.search_service.semantic.vectors.encoder_id.endswith(":onnx-int8")
        assert search(client, q=CONCEPTUAL, size=5)["degraded"] == []
    artifacts = tmp_path / "artifacts"
    shutil.copytree(demo_catalog.artifacts_dir, artifacts, ignore=shutil.ignore_patterns("query-encoder-*"))
    with app_client(settings_with(demo_catalog, artifacts_dir=str(artifacts))) as client:
        assert client.app.state.search_service.semantic.vectors.encoder_id.endswith(":torch")
        body = search(client, q=CONCEPTUAL, size=10)
        assert body["degraded"] == [] and body["retrieval"]["mode"] == "hybrid"

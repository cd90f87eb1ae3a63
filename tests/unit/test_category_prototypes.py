"""Category prototypes: built from product vectors, stored in the FAISS artifact, used to adjust a
descriptive query's similarities."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.category_prototypes import (
    CATEGORIES_FILE,
    MIN_PRODUCTS,
    CategoryPrototypes,
    CategoryRouter,
    build_prototypes,
    category_adjusted,
    relative_fit,
    sample_per_category,
    window_shares,
)
from quarry.vector_index import (
    ARTIFACT,
    FaissVectorIndex,
    VectorIndexUnavailableError,
    load_vector_index,
    publish_vector_index,
)

# Two categories along two axes, one too small to describe anything.
SHOES = [[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [1.0, 0.0, 0.0]]
BOOKS = [[0.0, 0.0, 1.0]] * 6
LONE = [[0.0, 1.0, 0.0]]
VECTORS = np.array(SHOES + BOOKS + LONE, dtype=np.float32)
CATEGORIES = ["Shoes"] * len(SHOES) + ["Books"] * len(BOOKS) + ["Lone"]


def test_a_prototype_is_the_unit_length_mean_of_its_products() -> None:
    prototypes = build_prototypes(CATEGORIES, VECTORS)
    assert prototypes.paths == ["Books", "Shoes"]
    assert prototypes.products == [6, 5]
    # Shoes' mean is (0.88, 0.28, 0); its unit vector has cosine 0.88/|mean| with the x axis.
    expected = 0.88 / np.hypot(0.88, 0.28)
    sims = prototypes.similarities(np.array([1.0, 0.0, 0.0], dtype=np.float32))
    assert sims["Shoes"] == pytest.approx(expected, abs=1e-6)
    assert sims["Books"] == pytest.approx(0.0, abs=1e-6)


def test_small_and_unnamed_categories_get_no_prototype() -> None:
    categories = [*CATEGORIES[:-1], ""]
    assert "Lone" not in build_prototypes(CATEGORIES, VECTORS).paths
    assert len(LONE) < MIN_PRODUCTS
    assert build_prototypes(categories, VECTORS).paths == ["Books", "Shoes"]
    assert len(build_prototypes(["x"] * 3, VECTORS[:3])) == 0


def test_a_product_loses_its_categorys_shortfall_from_the_best_category() -> None:
    similarity = {"a": 0.2, "b": 0.6, "c": 0.4, "d": 0.3}
    category_of = {"a": "Books", "b": "Shoes", "d": "Books"}  # c's category has no prototype
    out = category_adjusted(similarity, category_of, {"Books": 0.8, "Shoes": 0.1, "Toys": 0.5}, 1.0)
    assert out == pytest.approx({"a": 0.2, "b": -0.1, "c": 0.4, "d": 0.3})
    # The product whose category fits the query overtakes the one whose own text matched better, and
    # the best category's products keep their own similarities and their spread.
    assert out["a"] > out["b"] and out["d"] - out["a"] == pytest.approx(0.1)
    assert category_adjusted(similarity, category_of, {"Books": 0.8, "Shoes": 0.1}, 0.0) == similarity
    assert category_adjusted(similarity, category_of, {}, 1.0) == similarity


def test_prototypes_travel_in_the_faiss_artifact(tmp_path) -> None:
    store = LocalArtifactStore(tmp_path)
    ids = [f"P{i}" for i in range(len(VECTORS))]
    prototypes = build_prototypes(CATEGORIES, VECTORS)
    version = publish_vector_index(
        store, FaissVectorIndex.build(ids, VECTORS), ids, "m", "1", "i", categories=prototypes
    )
    loaded, _ = load_vector_index(store, version)
    assert loaded.categories is not None and loaded.categories.paths == ["Books", "Shoes"]
    query = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    assert loaded.categories.similarities(query) == pytest.approx(prototypes.similarities(query))

    older = publish_vector_index(store, FaissVectorIndex.build(ids, VECTORS), ids, "m", "1", "i")
    assert load_vector_index(store, older)[0].categories is None


@pytest.mark.parametrize(
    "stored",
    [
        b"{not json",
        json.dumps({"paths": ["a"], "products": [5], "centroids": []}).encode(),
        json.dumps({"paths": ["a"], "products": [5], "centroids": [[1.0, 0.0]]}).encode(),  # 2 of 3 dims
    ],
)
def test_damaged_prototypes_make_the_artifact_unusable(tmp_path, stored: bytes) -> None:
    store, version = _published(tmp_path, categories=build_prototypes(CATEGORIES, VECTORS))
    (tmp_path / ARTIFACT / version / CATEGORIES_FILE).write_bytes(stored)
    with pytest.raises(VectorIndexUnavailableError, match=version):
        load_vector_index(store, version)


def test_round_trip_keeps_every_number() -> None:
    prototypes = build_prototypes(CATEGORIES, VECTORS)
    again = CategoryPrototypes.from_bytes(prototypes.to_bytes())
    assert again.paths == prototypes.paths and again.products == prototypes.products
    assert again.dimension == 3
    for query in VECTORS:
        assert again.similarities(query) == pytest.approx(prototypes.similarities(query), abs=1e-7)


def test_a_sample_takes_at_most_n_products_of_each_category_spread_over_them() -> None:
    categories = ["Books"] * 10 + ["Shoes"] * 3 + [""] * 2
    sample = sample_per_category(categories, 4)
    assert sample == sample_per_category(categories, 4)  # the same catalog, the same sample
    books = [i for i in sample if categories[i] == "Books"]
    assert books == [0, 2, 5, 7] and [i for i in sample if categories[i] == "Shoes"] == [10, 11, 12]
    assert all(categories[i] for i in sample)  # products without a category are no sample


def test_the_router_travels_in_the_faiss_artifact_with_its_model(tmp_path) -> None:
    router = CategoryRouter("stronger-model", "2", build_prototypes(CATEGORIES, VECTORS))
    store, version = _published(tmp_path, categories=build_prototypes(CATEGORIES, VECTORS), router=router)
    loaded = load_vector_index(store, version)[0].router
    assert loaded is not None and (loaded.model, loaded.model_version) == ("stronger-model", "2")
    query = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    assert loaded.prototypes.similarities(query) == pytest.approx(router.prototypes.similarities(query))
    _, plain = _published(tmp_path)
    assert load_vector_index(store, plain)[0].router is None


def _published(tmp_path, **extra: Any) -> tuple[LocalArtifactStore, str]:
    """A FAISS artifact of the test vectors, with `extra` files (categories, router)."""
    store = LocalArtifactStore(tmp_path)
    ids = [f"P{i}" for i in range(len(VECTORS))]
    return store, publish_vector_index(
        store, FaissVectorIndex.build(ids, VECTORS), ids, "m", "1", "i", **extra
    )


def test_window_shares_follow_how_close_each_category_fits() -> None:
    # Fits of six categories: their standard deviation is the unit a shortfall is measured in.
    fit = {"Bags": 0.31, "Picture Books": 0.25, "Yoga": 0.17, "Mystery": 0.16, "Coffee": 0.05, "Shoes": 0.0}
    close = window_shares(fit, ["Bags", "Picture Books"], 40)
    assert close["Bags"] > close["Picture Books"] > 10  # a close second: a large share, not half
    assert sum(close.values()) == 40
    distant = window_shares(fit, ["Bags", "Coffee"], 40)
    assert distant["Coffee"] < close["Picture Books"] and distant["Coffee"] >= 1
    # Equal fits share evenly; nothing searched or no places: no shares.
    assert window_shares({"a": 0.2, "b": 0.2, "c": 0.0}, ["a", "b"], 40) == {"a": 20, "b": 20}
    assert window_shares(fit, [], 40) == {} and window_shares(fit, ["Bags"], 0) == {}
    # All fits alike (no spread): even shares; an odd total is still shared out whole.
    assert window_shares({"a": 0.1, "b": 0.1}, ["a", "b"], 10) == {"a": 5, "b": 5}
    assert sum(window_shares({"a": 0.1, "b": 0.1, "c": 0.0}, ["a", "b", "c"], 5).values()) == 5


def test_relative_fit_is_one_at_the_best_category_and_falls_by_the_shortfall_in_spreads() -> None:
    # Fits 0.5, 0.3, 0.1: mean 0.3, population standard deviation sqrt(0.08 / 3) = 0.163299.
    fit = relative_fit({"Phones": 0.5, "Cases": 0.3, "Books": 0.1})
    assert fit["Phones"] == pytest.approx(1.0)
    assert fit["Cases"] == pytest.approx(0.293833, abs=1e-6)  # exp(-0.2 / 0.163299)
    assert fit["Books"] == pytest.approx(0.086338, abs=1e-6)  # exp(-0.4 / 0.163299)
    # The same order at another level of cosines (another query) reads the same.
    assert relative_fit({"Phones": 0.8, "Cases": 0.6, "Books": 0.4}) == pytest.approx(fit)
    # No spread: every category fits equally; no categories: nothing.
    assert relative_fit({"a": 0.2, "b": 0.2}) == {"a": 1.0, "b": 1.0} and relative_fit({}) == {}

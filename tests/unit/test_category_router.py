"""Which prototypes say what a descriptive query fits: the router's, when the artifact has them for the
model the service encodes router queries with, otherwise the catalog model's."""

from __future__ import annotations

import numpy as np
import pytest

from quarry.category_prototypes import CategoryPrototypes, CategoryRouter
from quarry.search.semantic import QueryVectors, SemanticCandidates, SemanticRetriever

QUERY = "something to cook an omelette in"
PATHS = ["Home > Kitchen > Cookware", "Books > Non-Fiction > Cookbooks"]
# Hand-written unit vectors: the catalog model puts the query nearer cookbooks, the router nearer pans.
CATALOG_QUERY = np.array([0.0, 1.0], dtype=np.float32)
ROUTER_QUERY = np.array([1.0, 0.0, 0.0], dtype=np.float32)
CATALOG = CategoryPrototypes(PATHS, np.array([[0.6, 0.8], [0.0, 1.0]], dtype=np.float32), [9, 9])
ROUTER = CategoryPrototypes(PATHS, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32), [5, 5])


class FixedEncoder:
    def __init__(self, name: str, vector: np.ndarray) -> None:
        self.model_name, self.model_version, self.variant = name, "1", "test"
        self.dimension = len(vector)
        self.vector = vector

    def encode(self, texts, batch_size: int = 64, progress: bool = False):
        return np.stack([self.vector for _ in texts])


def _retriever(router_model: str | None) -> SemanticRetriever:
    def vectors(name: str, vector: np.ndarray) -> QueryVectors:
        return QueryVectors(lambda: FixedEncoder(name, vector), None, cache=False)  # type: ignore[arg-type]

    router = vectors(router_model, ROUTER_QUERY) if router_model else None
    return SemanticRetriever(None, "products", vectors("minilm", CATALOG_QUERY), None, "minilm", router)  # type: ignore[arg-type]


def test_the_router_decides_when_its_model_encodes_the_query() -> None:
    router = CategoryRouter("mpnet", "1", ROUTER)
    fit = _retriever("mpnet")._category_fit(QUERY, CATALOG_QUERY, CATALOG, router)
    assert max(fit, key=fit.__getitem__) == "Home > Kitchen > Cookware"
    assert fit == {"Home > Kitchen > Cookware": 1.0, "Books > Non-Fiction > Cookbooks": 0.0}


def test_the_catalog_models_prototypes_decide_otherwise() -> None:
    cookbooks = pytest.approx({"Home > Kitchen > Cookware": 0.8, "Books > Non-Fiction > Cookbooks": 1.0})
    other_model = CategoryRouter("another-model", "1", ROUTER)
    assert _retriever("mpnet")._category_fit(QUERY, CATALOG_QUERY, CATALOG, other_model) == cookbooks
    assert (
        _retriever(None)._category_fit(QUERY, CATALOG_QUERY, CATALOG, CategoryRouter("mpnet", "1", ROUTER))
        == cookbooks
    )
    assert _retriever("mpnet")._category_fit(QUERY, CATALOG_QUERY, CATALOG, None) == cookbooks


def test_the_ltr_category_fit_reads_the_catalog_models_prototypes_whatever_routed() -> None:
    """Cosines 0.8 and 1.0 (spread 0.1): exp(-0.2 / 0.1) for cookware, 1 for cookbooks."""
    expected = pytest.approx(
        {"Home > Kitchen > Cookware": np.exp(-2.0), "Books > Non-Fiction > Cookbooks": 1.0}
    )
    computed = SemanticCandidates([], {}, [], query_vector=CATALOG_QUERY, prototypes=CATALOG)
    assert computed.category_fit() == expected
    assert SemanticCandidates([], {}, []).category_fit() is None  # no prototypes in the artifact

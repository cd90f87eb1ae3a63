"""Category prototypes: the mean embedding of each leaf category's products.

A query that describes a need ("stretch and relax after work") sits closer to what a whole category is
about than to the words of any one product's text, where a stray "dinner" or "family" pulls cookbooks
up. Taking a product's category's similarity into account (cluster-based smoothing, as in
cluster-based retrieval) keeps the category right when single products' texts mislead
(docs/query-understanding.md#descriptive-queries).

`make embeddings` computes them from the same vectors as the FAISS artifact and publishes them in it,
so the service reads prototypes and product vectors of one catalog version.

A **router** is a second set of prototypes from a stronger model (all-mpnet-base-v2 by default,
`QUARRY_CATEGORY_ROUTER_MODEL`), averaged over a sample of each category's products
(`sample_per_category`): which categories a description fits is the part of semantic search where
the small model falls short most (the right category first for 49 of 84 descriptive golden queries
with MiniLM's prototypes, 67 with mpnet's from ten products each), while a prototype needs only a
few products, so the catalog keeps its fast encoder and the stronger one encodes about 1,400 texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from quarry.embeddings import Vectors

CATEGORIES_FILE = "categories.json"
ROUTER_FILE = "router.json"
# A category with fewer products has a mean that is one product's text, not what the category is about.
MIN_PRODUCTS = 5


class StoredPrototypes(msgspec.Struct, frozen=True):
    """The file format: one row per category path."""

    paths: list[str]
    products: list[int]
    centroids: list[list[float]]


class CategoryPrototypes:
    def __init__(self, paths: Sequence[str], centroids: Vectors, products: Sequence[int]) -> None:
        self.paths = list(paths)
        self._centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.products = list(products)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def dimension(self) -> int:
        return int(self._centroids.shape[1]) if self._centroids.ndim == 2 else 0

    def similarities(self, query: Vectors) -> dict[str, float]:
        """Cosine of the query to every category's prototype, by category path."""
        scores = self._centroids @ np.asarray(query, dtype=np.float32).reshape(-1)
        return {path: float(score) for path, score in zip(self.paths, scores, strict=True)}

    def to_stored(self) -> StoredPrototypes:
        return StoredPrototypes(
            paths=self.paths,
            products=self.products,
            centroids=[[float(x) for x in row] for row in self._centroids],
        )

    def to_bytes(self) -> bytes:
        return msgspec.json.encode(self.to_stored())

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoryPrototypes:
        return cls.from_stored(msgspec.json.decode(data, type=StoredPrototypes))

    @classmethod
    def from_stored(cls, stored: StoredPrototypes) -> CategoryPrototypes:
        if not (len(stored.paths) == len(stored.centroids) == len(stored.products)):
            raise ValueError("category prototypes: paths, centroids and product counts differ in length")
        centroids = np.asarray(stored.centroids, dtype=np.float32).reshape(len(stored.paths), -1)
        return cls(stored.paths, centroids, stored.products)


def build_prototypes(categories: Sequence[str], vectors: Vectors) -> CategoryPrototypes:
    """The unit-length mean vector of each category with at least MIN_PRODUCTS products; `categories`
    holds each vector's category path ("" or missing paths are skipped)."""
    rows: dict[str, list[int]] = {}
    for i, path in enumerate(categories):
        if path:
            rows.setdefault(path, []).append(i)
    paths = sorted(p for p, members in rows.items() if len(members) >= MIN_PRODUCTS)
    if not paths:
        return CategoryPrototypes([], np.zeros((0, vectors.shape[-1]), np.float32), [])
    matrix = np.vstack([np.asarray(vectors[rows[p]], dtype=np.float32).mean(axis=0) for p in paths])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return CategoryPrototypes(paths, matrix, [len(rows[p]) for p in paths])


def category_adjusted(
    similarity: Mapping[str, float],
    category_of: Mapping[str, str],
    category_similarity: Mapping[str, float],
    weight: float,
) -> dict[str, float]:
    """A product's similarity less `weight` x its category's shortfall from the best-fitting category.
    Products of the best category keep their similarity, so the spread among them, which the ranking
    formula weighs against popularity and freshness, is untouched; a product whose category has no
    prototype keeps its own similarity (no made-up category score)."""
    if not category_similarity:
        return dict(similarity)
    best = max(category_similarity.values())
    out = dict(similarity)
    for pid, own in similarity.items():
        category = category_similarity.get(category_of.get(pid, ""))
        if category is not None:
            out[pid] = own - weight * (best - category)
    return out


def relative_fit(fit: Mapping[str, float]) -> dict[str, float]:
    """Each category's fit as exp(-shortfall / spread), as `window_shares` weighs them: 1 for the
    best-fitting category, falling with the shortfall measured in the spread (standard deviation) of
    the query's fit over all categories. Raw cosines sit at different levels for different queries;
    this reads the same for all, so a model can learn from it (the LTR feature `category_fit`)."""
    if not fit:
        return {}
    values = np.fromiter(fit.values(), dtype=np.float64, count=len(fit))
    best, spread = float(values.max()), float(values.std())
    if spread <= 0:
        return dict.fromkeys(fit, 1.0)
    relative = np.exp((values - best) / spread)
    return dict(zip(fit, (float(x) for x in relative), strict=True))


def window_shares(fit: Mapping[str, float], searched: Sequence[str], total: int) -> dict[str, int]:
    """How many of a descriptive query's `total` window places each of the `searched` categories gets:
    shares fall off as exp(-shortfall / spread), the shortfall from the best-fitting category measured
    in the standard deviation of the query's fit over all categories. A close second ("carry my books
    to class": bags, then picture books) gets nearly half, a distant one (coffee for "coffeemaker")
    a few places, every searched category at least one. Without one share per category, one k-NN
    search over all of them gives every place to the category whose texts share the query's words."""
    if not searched or total <= 0:
        return {}
    relative = relative_fit(fit)
    best = max(relative[path] for path in searched)  # the searched are the best-fitting categories
    weights = {path: relative[path] / best for path in searched}
    norm = sum(weights.values())
    # Largest remainders: the shares add up to `total` (when it allows one place each).
    exact = {path: max(1.0, total * weight / norm) for path, weight in weights.items()}
    shares = {path: int(value) for path, value in exact.items()}
    by_remainder = sorted(exact, key=lambda path: shares[path] - exact[path])
    for path in by_remainder[: max(0, total - sum(shares.values()))]:
        shares[path] += 1
    return shares


def sample_per_category(categories: Sequence[str], per_category: int) -> list[int]:
    """Indices of at most `per_category` products of each named category, spread evenly over its
    products in their given order (deterministic: the same catalog gives the same sample)."""
    rows: dict[str, list[int]] = {}
    for i, path in enumerate(categories):
        if path:
            rows.setdefault(path, []).append(i)
    chosen: list[int] = []
    for members in rows.values():
        step = max(1, len(members) / per_category) if per_category > 0 else float("inf")
        chosen += sorted({members[int(k * step)] for k in range(min(per_category, len(members)))})
    return sorted(chosen)


class StoredRouter(msgspec.Struct, frozen=True):
    """The router file: its model (queries must be encoded with the same) and its prototypes."""

    model: str
    model_version: str
    prototypes: StoredPrototypes


class CategoryRouter:
    """Category prototypes of the router model, which routes descriptive queries to categories."""

    def __init__(self, model: str, model_version: str, prototypes: CategoryPrototypes) -> None:
        self.model = model
        self.model_version = model_version
        self.prototypes = prototypes

    def to_bytes(self) -> bytes:
        return msgspec.json.encode(StoredRouter(self.model, self.model_version, self.prototypes.to_stored()))

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoryRouter:
        stored = msgspec.json.decode(data, type=StoredRouter)
        return cls(stored.model, stored.model_version, CategoryPrototypes.from_stored(stored.prototypes))

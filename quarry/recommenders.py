"""Recommendation models behind one small interface: fit / recommend / score / save / load.

Interactions are (user, item, confidence) triples; confidence sums the weights of a user's actions on
an item (view 1, click 2, add-to-cart 5, purchase 10). Artifacts are directories of plain files
(numpy arrays, JSON id maps) that the model store versions; `metadata` records the data window,
parameters, metrics and library versions.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

ARTIFACT = "als"
"""The ALS model's artifact name: the training publishes it, the API serves it, an erasure redacts it."""
ACTION_CONFIDENCE = {"view": 1.0, "click": 2.0, "add_to_cart": 5.0, "purchase": 10.0}


class Interactions:
    """A user x item confidence matrix with the id maps to read it."""

    def __init__(self, triples: Iterable[tuple[str, str, float]]) -> None:
        users: dict[str, int] = {}
        items: dict[str, int] = {}
        rows, cols, values = [], [], []
        for user, item, confidence in triples:
            rows.append(users.setdefault(user, len(users)))
            cols.append(items.setdefault(item, len(items)))
            values.append(confidence)
        self.user_ids = list(users)
        self.item_ids = list(items)
        self.user_index = users
        self.item_index = items
        self.matrix = sp.csr_matrix(
            (np.array(values, dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
        )
        self.matrix.sum_duplicates()

    def items_of(self, user: str) -> set[str]:
        row = self.user_index.get(user)
        if row is None:
            return set()
        return {self.item_ids[i] for i in self.matrix[row].indices}


class Recommender(Protocol):
    name: str

    def fit(self, data: Interactions) -> None: ...
    def recommend(self, user: str, k: int, exclude: set[str]) -> list[tuple[str, float]]: ...
    def score(self, user: str, items: list[str]) -> list[float]: ...
    def save(self) -> dict[str, bytes]: ...
    def metadata(self) -> dict[str, Any]: ...


MIN_INTERACTIONS = 5
"""Interactions in the training window before a user gets ALS's answers rather than popular items:
the service's switch (api/recommendations) and the offline evaluation of a model as served."""


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


class PopularityRecommender:
    """The baseline every personalized model must beat: the same most-engaged items for everyone."""

    name = "popularity"

    def __init__(self) -> None:
        self.ranking: list[tuple[str, float]] = []

    def fit(self, data: Interactions) -> None:
        totals = np.asarray(data.matrix.sum(axis=0)).ravel()
        order = np.argsort(-totals, kind="stable")
        self.ranking = [(data.item_ids[i], float(totals[i])) for i in order]

    def recommend(self, user: str, k: int, exclude: set[str]) -> list[tuple[str, float]]:
        return [(item, s) for item, s in self.ranking if item not in exclude][:k]

    def score(self, user: str, items: list[str]) -> list[float]:
        table = dict(self.ranking)
        return [table.get(item, 0.0) for item in items]

    def save(self) -> dict[str, bytes]:
        return {"ranking.json": json.dumps(self.ranking).encode()}

    def metadata(self) -> dict[str, Any]:
        return {"model": self.name, "items": len(self.ranking)}


class ALSRecommender:
    """implicit's ALS on the confidence matrix (Hu, Koren, Volinsky 2008)."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        iterations: int = 20,
        alpha: float = 2.0,
        seed: int = 7,
    ) -> None:
        self.params = {
            "factors": factors,
            "regularization": regularization,
            "iterations": iterations,
            "alpha": alpha,
            "seed": seed,
        }
        self.user_factors = np.zeros((0, factors), dtype=np.float32)
        self.item_factors = np.zeros((0, factors), dtype=np.float32)
        self.user_index: dict[str, int] = {}
        self.item_ids: list[str] = []

    def fit(self, data: Interactions) -> None:
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit runs its own threads; BLAS threads on top of them only contend (its own advice).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.params["factors"],
                regularization=self.params["regularization"],
                iterations=self.params["iterations"],
                alpha=self.params["alpha"],
                random_state=self.params["seed"],
                calculate_training_loss=False,
            )
            model.fit(data.matrix, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self.user_index = dict(data.user_index)
        self.item_ids = list(data.item_ids)

    def _scores(self, user: str) -> np.ndarray | None:
        row = self.user_index.get(user)
        if row is None:
            return None
        scores: np.ndarray = self.item_factors @ self.user_factors[row]
        return scores

    def recommend(self, user: str, k: int, exclude: set[str]) -> list[tuple[str, float]]:
        scores = self._scores(user)
        if scores is None:
            return []
        out = []
        for i in np.argsort(-scores, kind="stable"):
            item = self.item_ids[i]
            if item not in exclude:
                out.append((item, float(scores[i])))
                if len(out) == k:
                    break
        return out

    def score(self, user: str, items: list[str]) -> list[float]:
        scores = self._scores(user)
        index = {item: i for i, item in enumerate(self.item_ids)}
        return [float(scores[index[item]]) if scores is not None and item in index else 0.0 for item in items]

    def save(self) -> dict[str, bytes]:
        return {
            "user_factors.npy": _npy(self.user_factors),
            "item_factors.npy": _npy(self.item_factors),
            "user_ids.json": json.dumps(list(self.user_index)).encode(),
            "item_ids.json": json.dumps(self.item_ids).encode(),
        }

    @classmethod
    def load(cls, files: dict[str, bytes], params: dict[str, Any]) -> ALSRecommender:
        model = cls(**params)
        model.user_factors = np.load(io.BytesIO(files["user_factors.npy"]), allow_pickle=False)
        model.item_factors = np.load(io.BytesIO(files["item_factors.npy"]), allow_pickle=False)
        model.user_index = {u: i for i, u in enumerate(json.loads(files["user_ids.json"]))}
        model.item_ids = json.loads(files["item_ids.json"])
        return model

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "parameters": self.params,
            "users": len(self.user_index),
            "items": len(self.item_ids),
            "library_versions": {
                name: importlib.metadata.version(name) for name in ("implicit", "numpy", "scipy")
            },
        }


def without_user(files: dict[str, bytes], user: str) -> dict[str, bytes] | None:
    """An ALS artifact's files with one user's factor row, id and history removed (the other users'
    rows keep their order, so their ids still index them); None when the artifact holds nothing of
    the user."""
    ids: list[str] = json.loads(files["user_ids.json"])
    history: dict[str, Any] = json.loads(files.get("history.json", b"{}"))
    if user not in ids and user not in history:
        return None
    changed: dict[str, bytes] = {}
    if user in ids:
        row = ids.index(user)
        factors = np.load(io.BytesIO(files["user_factors.npy"]), allow_pickle=False)
        changed["user_factors.npy"] = _npy(np.delete(factors, row, axis=0))
        changed["user_ids.json"] = json.dumps(ids[:row] + ids[row + 1 :]).encode()
    if "history.json" in files:
        history.pop(user, None)
        changed["history.json"] = json.dumps(history).encode()
    return changed


def user_factors(files: dict[str, bytes], user: str) -> list[float] | None:
    """One user's factor row of an ALS artifact (for an export); None when the user has none."""
    ids: list[str] = json.loads(files["user_ids.json"])
    if user not in ids:
        return None
    matrix = np.load(io.BytesIO(files["user_factors.npy"]), allow_pickle=False)
    return [round(float(x), 6) for x in matrix[ids.index(user)]]

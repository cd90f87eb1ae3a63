"""The Phase-2 baseline (docs/ltr.md#training): a linear score per top-level category, its weights
tuned by coordinate ascent on NDCG@10 (RankLib's method), so that electronics may stress freshness,
fashion popularity and books the shopper's affinity. It is what a hand-tuned formula can reach with
per-category weights, and the learned model has to beat it on the same folds.

The formula's own components (fused relevance in particular) are not features, so the baseline is
linear over the features that stand for them, each min-max normalized within its query's window."""

from __future__ import annotations

import numpy as np

from pipelines.ltr.dataset import Group

FEATURES = (
    "semantic_similarity",
    "title_bm25",
    "keyword_reciprocal_rank",
    "semantic_reciprocal_rank",
    "popularity",
    "freshness",
    "rating",
    "als_affinity",
    "session_affinity",
)
STEPS = (-0.5, -0.2, -0.05, 0.05, 0.2, 0.5)
PASSES = 2


class Prepared:
    """A group's normalized columns, labels and the ideal DCG, computed once."""

    def __init__(self, group: Group, columns: list[int]) -> None:
        values = np.asarray(group.features, dtype=np.float64)[:, columns]
        low, high = values.min(axis=0), values.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        self.x = (values - low) / span
        self.labels = np.asarray(group.labels)
        self.gains = 2.0**self.labels - 1
        self.departments = group.departments or [""] * len(group.labels)
        ideal = np.sort(self.gains)[::-1][:10]
        self.ideal = float((ideal / np.log2(np.arange(2, len(ideal) + 2))).sum())

    def ndcg(self, scores: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(scores)), -scores))[:10]  # ties keep the window order
        dcg = float((self.gains[order] / np.log2(np.arange(2, len(order) + 2))).sum())
        return dcg / self.ideal if self.ideal else 0.0


class Phase2Weights:
    def __init__(self, names: list[str]) -> None:
        self.columns = [names.index(f) for f in FEATURES]
        self.weights: dict[str, np.ndarray] = {}
        self.default = np.full(len(FEATURES), 1.0 / len(FEATURES))

    def _w(self, department: str) -> np.ndarray:
        return self.weights.get(department, self.default)

    def scores(self, prepared: Prepared) -> np.ndarray:
        w = np.stack([self._w(d) for d in prepared.departments])
        result: np.ndarray = (prepared.x * w).sum(axis=1)
        return result

    def fit(self, groups: list[Group]) -> None:
        prepared = [Prepared(g, self.columns) for g in groups]
        departments = sorted({d for p in prepared for d in p.departments if d})
        self.weights = {d: self.default.copy() for d in departments}

        def objective() -> float:
            return float(np.mean([p.ndcg(self.scores(p)) for p in prepared]))

        best = objective()
        for _ in range(PASSES):
            for department in departments:
                touched = [p for p in prepared if department in p.departments]
                if not touched:
                    continue
                for feature in range(len(FEATURES)):
                    for step in STEPS:
                        trial = self.weights[department].copy()
                        trial[feature] = max(0.0, trial[feature] + step)
                        kept = self.weights[department]
                        self.weights[department] = trial
                        value = objective()
                        if value > best + 1e-9:
                            best = value
                        else:
                            self.weights[department] = kept

    def ndcg(self, group: Group) -> float:
        prepared = Prepared(group, self.columns)
        return prepared.ndcg(self.scores(prepared))

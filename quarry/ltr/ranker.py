"""The learned ranker behind the models' small interface (fit / score / save / load / metadata):
XGBoost with a LambdaMART objective (`rank:ndcg`) over a feature set's vectors, grouped by query.

Non-matching features are 0, never missing, in training and in serving alike: the OpenSearch LTR
plugin's 3.x releases send a missing feature down the "no" branch whatever the model's `missing`
pointer says (docs/ltr.md#missing-values), so a model must never have learned anything from NaN.

`TreeEnsemble` evaluates the model from its JSON tree dump, the form the plugin's
`model/xgboost+json` takes: the export is checked against the booster with it."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

ARTIFACT = "ltr"
"""The LTR model's artifact name in the registry: training publishes it, the service serves it."""
OBJECTIVE = "rank:ndcg"


class TrainingSet(msgspec.Struct, frozen=True):
    """Examples grouped by query, in group order: `groups[i]` rows belong to query `queries[i]`."""

    names: list[str]
    queries: list[str]
    groups: list[int]
    features: list[list[float]]
    labels: list[int]
    weights: list[float]
    """One per query group (XGBoost ranking weights groups, not rows)."""
    products: list[str]


class LtrRanker:
    name = "ltr"

    def __init__(self, params: dict[str, Any] | None = None, rounds: int = 300) -> None:
        self.params: dict[str, Any] = {
            "objective": OBJECTIVE,
            "eval_metric": "ndcg@10",
            "eta": 0.1,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "lambdarank_pair_method": "topk",
            # Pairs per judged product: the windows hold up to 100 products with few graded ones,
            # and 64 pairs use more of each scarce judged query than XGBoost's 10 (session 27,
            # six fold seeds on the same examples: LTR - formula +0.0154 to +0.0165 against +0.0068
            # to +0.0079; 32 pairs +0.0113, 128 pairs +0.0121).
            "lambdarank_num_pair_per_sample": 64,
            "base_score": 0.0,  # the plugin adds no base score: the sum of leaves is the score
            "seed": 7,
            "nthread": 2,
            **(params or {}),
        }
        self.rounds = rounds
        self.names: list[str] = []
        self._booster: Any = None

    def fit(self, data: TrainingSet) -> None:
        """For `rounds` rounds: how many is cross-validation's choice (pipelines/ltr/train.py)."""
        import xgboost as xgb

        self.names = list(data.names)
        self._booster = xgb.train(self.params, _matrix(data), num_boost_round=self.rounds, verbose_eval=False)

    def score(self, features: Sequence[Sequence[float]], rounds: int | None = None) -> list[float]:
        """The margin (the sum of leaves, as the plugin scores), predicted in place on one thread: a
        window of 100 is too small for threads to pay, and a DMatrix costs more than the trees
        (0.27 vs 0.85 ms of CPU per window, measured for bench-search's model).
        `rounds`: the first trees only (cross-validation scores one model at several sizes)."""
        matrix = np.asarray(features, dtype=np.float32)
        kept = (0, rounds) if rounds is not None else (0, 0)  # (0, 0): every tree
        scores = self._booster.inplace_predict(matrix, predict_type="margin", iteration_range=kept)
        return [float(s) for s in scores]

    def contributions(self, features: Sequence[Sequence[float]]) -> list[dict[str, float]]:
        """Each feature's share of each score (SHAP values, `pred_contribs`); "bias" is the rest."""
        import xgboost as xgb

        matrix = xgb.DMatrix(np.asarray(features, dtype=np.float32), feature_names=self.names)
        rows = self._booster.predict(matrix, pred_contribs=True)
        return [dict(zip([*self.names, "bias"], (float(v) for v in row), strict=True)) for row in rows]

    def gains(self) -> dict[str, float]:
        """Total gain of each feature's splits (0 for a feature no tree splits on)."""
        found = self._booster.get_score(importance_type="total_gain")
        return {name: float(found.get(name, 0.0)) for name in self.names}

    def dump(self) -> list[dict[str, Any]]:
        """The trees as `Booster.get_dump(dump_format="json")` gives them (the plugin's format)."""
        return [json.loads(tree) for tree in self._booster.get_dump(dump_format="json")]

    def save(self) -> dict[str, bytes]:
        return {
            "model.ubj": bytes(self._booster.save_raw("ubj")),
            "trees.json": json.dumps(self.dump()).encode(),
            "features.json": json.dumps(self.names).encode(),
        }

    @classmethod
    def load(cls, files: dict[str, bytes], params: dict[str, Any] | None = None) -> LtrRanker:
        import xgboost as xgb

        ranker = cls(params)
        ranker.names = json.loads(files["features.json"])
        booster = xgb.Booster()
        booster.load_model(bytearray(files["model.ubj"]))
        booster.feature_names = ranker.names
        booster.set_param({"nthread": 1})  # serving: see `score`
        ranker._booster = booster
        return ranker

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "objective": OBJECTIVE,
            "features": self.names,
            "params": self.params,
            "trees": len(self._booster.get_dump()) if self._booster is not None else 0,
            "rounds": self.rounds,
            "library_versions": {
                "xgboost": _xgboost_version(),
                "msgspec": importlib.metadata.version("msgspec"),
            },
        }


def _xgboost_version() -> str:
    import xgboost as xgb

    return str(xgb.__version__)


def _matrix(data: TrainingSet) -> Any:
    import xgboost as xgb

    matrix = xgb.DMatrix(
        np.asarray(data.features, dtype=np.float32),
        label=np.asarray(data.labels, dtype=np.float32),
        feature_names=data.names,
    )
    matrix.set_group(data.groups)
    matrix.set_weight(np.asarray(data.weights, dtype=np.float32))
    return matrix


class TreeEnsemble:
    """A reader of the JSON tree dump: the score is the sum over trees of the leaf each vector
    reaches, a split sending `value < split_condition` (both as float32) to `yes`. No base score,
    as the plugin adds none. Used to check an export, and usable where XGBoost is not installed."""

    def __init__(self, trees: list[dict[str, Any]], names: list[str]) -> None:
        self._trees = trees
        self._column = {name: i for i, name in enumerate(names)}

    def score(self, vector: Sequence[float]) -> float:
        values = np.asarray(vector, dtype=np.float32)
        total = 0.0
        for tree in self._trees:
            node = tree
            while "leaf" not in node:
                value = values[self._column[node["split"]]]
                goes = node["yes"] if value < np.float32(node["split_condition"]) else node["no"]
                node = next(child for child in node["children"] if child["nodeid"] == goes)
            total += float(node["leaf"])
        return total

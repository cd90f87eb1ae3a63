"""Serving the learned ranker (docs/ltr.md#serving): when the registry has an `ltr` champion, the
top of the formula's window is rescored by it, in process, with features from the same extractor
that logging and training use. The model is hot-reloaded as the champion moves. A model trained on
another feature set is refused at load (the column order would be wrong), and the formula keeps
ranking; a failure at request time is the caller's to turn into `degraded: ["ltr"]`."""

from __future__ import annotations

import logging

import msgspec

from quarry.adapters.artifact_store import ArtifactStore
from quarry.hot_artifact import HotArtifact
from quarry.ltr.features import FeatureContext, FeatureExtractor
from quarry.ltr.ranker import ARTIFACT, LtrRanker
from quarry.search.ranking import LtrScore, RankedHit

log = logging.getLogger("quarry.ltr")

TOP_CONTRIBUTIONS = 5


class LtrRescorer:
    def __init__(
        self, store: ArtifactStore, features: FeatureExtractor, reload_interval_s: float, window: int = 100
    ) -> None:
        self._store = store
        self._features = features
        self.window = window
        self._model: HotArtifact[LtrRanker | None] = HotArtifact(
            store, ARTIFACT, self._load, reload_interval_s, None
        )

    def _load(self, version: str) -> LtrRanker:
        metadata = self._store.metadata(ARTIFACT, version)
        if metadata.get("featureset") != self._features.featureset.name:
            raise ValueError(
                f"LTR model {version} was trained on feature set {metadata.get('featureset')!r}, "
                f"the service computes {self._features.featureset.name!r}"
            )
        files = {name: self._store.read(ARTIFACT, version, name) for name in metadata["files"]}
        ranker = LtrRanker.load(files, metadata.get("params"))
        if ranker.names != self._features.featureset.names:
            raise ValueError(f"LTR model {version}'s features are not the feature set's, in its order")
        return ranker

    def version(self, allow_reload: bool = True) -> str | None:
        """The model that ranks now; None: the formula ranks. `allow_reload=False` on the event loop
        (a reload reads the model store)."""
        return self._model.version if self._model.get(allow_reload) is not None else None

    def rescore(self, ranked: list[RankedHit], context: FeatureContext, explain: bool) -> list[RankedHit]:
        """The top `window` of `ranked` by the model, best first (ties keep the formula's order),
        then the rest as the formula ranked it."""
        model = self._model.get()
        if model is None or not ranked:
            return ranked
        top = ranked[: self.window]
        vectors = self._features.extract(context, [r.hit.id for r in top])
        scorable = [r for r in top if r.hit.id in vectors.vectors]
        rows = [vectors.vectors[r.hit.id] for r in scorable]
        scores = model.score(rows)
        parts = model.contributions(rows) if explain else [None] * len(rows)
        rescored = [
            msgspec.structs.replace(
                item,
                score=round(score, 6),
                ltr=LtrScore(
                    model=self._model.version or "",
                    score=round(score, 6),
                    top_contributions=_top(contribution) if contribution is not None else None,
                ),
            )
            for item, score, contribution in zip(scorable, scores, parts, strict=True)
        ]
        rescored.sort(key=lambda r: (-r.score, r.position))
        gone = [r for r in top if r.hit.id not in vectors.vectors]  # deleted since retrieval: last
        return [*rescored, *gone, *ranked[self.window :]]


def _top(contribution: dict[str, float]) -> dict[str, float]:
    named = {k: v for k, v in contribution.items() if k != "bias"}
    best = sorted(named, key=lambda k: -abs(named[k]))[:TOP_CONTRIBUTIONS]
    return {k: round(named[k], 6) for k in best}

"""Serving the learned ranker (docs/ltr.md#serving): when the registry has an `ltr` champion, the
top of the formula's window is rescored by it, in process, with features from the same extractor
that logging and training use. The model is hot-reloaded as the champion moves. A model trained on
another feature set is refused at load (the column order would be wrong), and the formula keeps
ranking; a failure at request time is the caller's to turn into `degraded: ["ltr"]`.

The registry's other aliases are served as for ALS (docs/model-lifecycle.md): a `canary` version
ranks for a sticky share of shoppers, and every search it could have ranked is recorded for its
guardrails; a `shadow` version reorders a share of uncached windows off the request path, compared
with what was served. Either is judged against whatever serves, the formula included, so the first
learned model is promoted by the same evidence as every later one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import msgspec

from quarry.adapters.artifact_store import ArtifactStore
from quarry.canary import CanaryTraffic
from quarry.hot_artifact import HotArtifact
from quarry.ltr.features import FeatureContext, FeatureExtractor, FeatureVectors
from quarry.ltr.ranker import ARTIFACT, LtrRanker
from quarry.model_aliases import CANARY, CHAMPION, SHADOW
from quarry.search.ranking import LtrScore, RankedHit
from quarry.shadow import ShadowRunner

log = logging.getLogger("quarry.ltr")

TOP_CONTRIBUTIONS = 5
FORMULA = "formula"
"""The served "version" when no learned model ranks."""


@dataclass(frozen=True, slots=True)
class LtrAssignment:
    """Which ranker one search gets, decided once per request (the cache key, the ranking and the
    canary record all follow it)."""

    alias: str
    """`champion`, or `canary` for the canary's share of shoppers."""
    model: LtrRanker | None
    """None: the formula ranks."""
    version: str | None
    canary_version: str | None = None
    """Set while a canary is live: the search is recorded for the canary's guardrails."""

    @property
    def served(self) -> str:
        return self.version or FORMULA


class RankedItem(msgspec.Struct, frozen=True):
    product_id: str
    score: float


class RankedAnswer(msgspec.Struct, frozen=True):
    """A window's order as the shadow comparison reads it (quarry/shadow.py)."""

    strategy: str
    model_version: str | None
    items: list[RankedItem]


def answer(ranked: list[RankedHit], version: str) -> RankedAnswer:
    """`version`: the model that ordered `ranked`, or FORMULA."""
    strategy = FORMULA if version == FORMULA else "ltr"
    return RankedAnswer(strategy, version, [RankedItem(r.hit.id, r.score) for r in ranked])


class LtrRescorer:
    def __init__(
        self,
        store: ArtifactStore,
        features: FeatureExtractor,
        reload_interval_s: float,
        window: int = 100,
        *,
        shadow: ShadowRunner | None = None,
        canary: CanaryTraffic | None = None,
    ) -> None:
        """`shadow`, `canary`: the live traffic of the registry's other aliases (None or a share of 0:
        those aliases are ignored, as offline code does)."""
        self._store = store
        self._features = features
        self.window = window
        self._reload_interval_s = reload_interval_s
        self._model = self._following(CHAMPION, reload_interval_s)
        self._aliases: dict[str, HotArtifact[LtrRanker | None]] = {}
        self.shadow_runner = shadow if shadow is not None and shadow.share > 0 else None
        self._shadow = self._following(SHADOW, reload_interval_s) if self.shadow_runner else None
        self.canary_traffic = canary if canary is not None and canary.share > 0 else None
        self._canary = self._following(CANARY, reload_interval_s) if self.canary_traffic else None

    def _following(self, alias: str, reload_interval_s: float) -> HotArtifact[LtrRanker | None]:
        return HotArtifact(self._store, ARTIFACT, self._load, reload_interval_s, None, follow=alias)

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

    def assign(self, subject: str | None, allow_reload: bool = True) -> LtrAssignment:
        """The ranker for a shopper (`subject`: the user's or else the session's pseudonym). While a
        canary lives, its share of shoppers get it, the same ones on every request and instance;
        a request with neither id gets the champion. `allow_reload=False` on the event loop (a
        reload reads the model store)."""
        champion = self.champion(allow_reload)
        if self._canary is None or self.canary_traffic is None:
            return champion
        canary = self._canary.get(allow_reload)
        version = self._canary.version
        if canary is None or version is None or version == champion.version:
            return champion
        if self.canary_traffic.assigned(version, subject):
            return LtrAssignment(CANARY, canary, version, version)
        return replace(champion, canary_version=version)

    def champion(self, allow_reload: bool = True) -> LtrAssignment:
        """The champion, whatever canary lives (for searches that are not the canary's traffic)."""
        model = self._model.get(allow_reload)
        return LtrAssignment(CHAMPION, model, self._model.version if model is not None else None)

    def assign_alias(self, alias: str, allow_reload: bool = True) -> LtrAssignment | None:
        """The model under a registry alias an experiment's variant serves (followed from its first
        request on); None when the alias has no usable version yet (the caller serves as usual).
        `allow_reload=False`: never loads, so a first request on the event loop gets None."""
        following = self._aliases.get(alias)
        if following is None:
            following = self._aliases.setdefault(alias, self._following(alias, self._reload_interval_s))
        model = following.get(allow_reload)
        version = following.version
        if model is None or version is None:
            return None
        return LtrAssignment(alias, model, version)

    def shadow_for(self, served: LtrAssignment) -> tuple[str, LtrRanker] | None:
        """The shadow model, for a sampled share of the searches the champion ranked."""
        if self.shadow_runner is None or self._shadow is None or served.alias != CHAMPION:
            return None
        model, version = self._shadow.get(), self._shadow.version
        if model is None or version is None or version == served.version or not self.shadow_runner.sampled():
            return None
        return version, model

    def rescore(
        self, ranked: list[RankedHit], context: FeatureContext, explain: bool, served: LtrAssignment
    ) -> tuple[list[RankedHit], FeatureVectors | None]:
        """The top `window` of `ranked` by the served model, best first (ties keep the formula's
        order), then the rest as the formula ranked it; and the features the model scored (feature
        logging keeps them as they were)."""
        if served.model is None or not ranked:
            return ranked, None
        vectors = self._features.vectors_for(context, [r.hit for r in ranked[: self.window]])
        return _reordered(ranked, vectors, served.model, served.served, self.window, explain), vectors

    def shadow(
        self,
        served: LtrAssignment,
        ranked: list[RankedHit],
        context: FeatureContext,
        vectors: FeatureVectors | None,
        shadow: tuple[str, LtrRanker],
    ) -> None:
        """Compare the shadow's order of this window with the served one, off the request path."""
        assert self.shadow_runner is not None  # noqa: S101 - shadow_for only offers one with a runner
        version, model = shadow
        top = ranked[: self.window]

        def compute() -> RankedAnswer:
            scored = vectors or self._features.vectors_for(context, [r.hit for r in top])
            return answer(_reordered(top, scored, model, version, self.window, False), version)

        self.shadow_runner.submit(ARTIFACT, version, answer(top, served.served), compute)

    def close(self) -> None:
        """Write what the shadow and canary records still hold (at shutdown)."""
        if self.shadow_runner is not None:
            self.shadow_runner.drain()
        if self.canary_traffic is not None:
            self.canary_traffic.close()


def _reordered(
    ranked: list[RankedHit],
    vectors: FeatureVectors,
    model: LtrRanker,
    version: str,
    window: int,
    explain: bool,
) -> list[RankedHit]:
    top = ranked[:window]
    scorable = [r for r in top if r.hit.id in vectors.vectors]
    rows = [vectors.vectors[r.hit.id] for r in scorable]
    scores = model.score(rows)
    parts = model.contributions(rows) if explain else [None] * len(rows)
    rescored = [
        msgspec.structs.replace(
            item,
            score=round(score, 6),
            ltr=LtrScore(
                model=version,
                score=round(score, 6),
                top_contributions=_top(contribution) if contribution is not None else None,
            ),
        )
        for item, score, contribution in zip(scorable, scores, parts, strict=True)
    ]
    rescored.sort(key=lambda r: (-r.score, r.position))
    gone = [r for r in top if r.hit.id not in vectors.vectors]  # deleted since retrieval: last
    return [*rescored, *gone, *ranked[window:]]


def _top(contribution: dict[str, float]) -> dict[str, float]:
    named = {k: v for k, v in contribution.items() if k != "bias"}
    best = sorted(named, key=lambda k: -abs(named[k]))[:TOP_CONTRIBUTIONS]
    return {k: round(named[k], 6) for k in best}

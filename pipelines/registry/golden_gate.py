"""The offline stage of the gate for search artifacts (the query-understanding vocabulary): golden
NDCG@10 of the whole pipeline with the candidate, against the pipeline with the champion, both
measured in the same run (the catalog, the judgments and the other artifacts are the same for both,
so the difference is the candidate's).

Each side is the real API app in this process (pipelines/pipeline_search.py) reading the model store
through a view that pins the artifact to one version; each gets its own ranking version, so the
result cache never hands one side's pages to the other.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pipelines import evaluation
from pipelines.bench.report import environment
from pipelines.pipeline_search import pipeline_search
from pipelines.registry.gate import GateDecision
from pipelines.registry.registry import ModelRegistry
from quarry.adapters.artifact_store import ArtifactStore
from quarry.model_aliases import CHAMPION, AliasChange
from quarry.settings import Settings

TOLERANCE = 0.005
"""Golden NDCG@10 the candidate may lose: the same pipeline measured twice agrees to the fourth
decimal, so anything beyond this is the candidate's doing."""
MAX_ZERO_RESULT_INCREASE = 0.01


class PinnedArtifacts:
    """A read-only view of a model store in which one artifact's champion is another version: what
    the app serves when that version would be promoted. Writes are refused: a gate only looks."""

    def __init__(self, store: ArtifactStore, name: str, version: str) -> None:
        self._store, self._name, self._version = store, name, version

    def current(self, name: str) -> str | None:
        return self._version if name == self._name else self._store.current(name)

    def aliases(self, name: str) -> dict[str, str]:
        found = self._store.aliases(name)
        return {**found, CHAMPION: self._version} if name == self._name else found

    def alias_log(self, name: str) -> list[AliasChange]:
        return self._store.alias_log(name)

    def versions(self, name: str) -> list[str]:
        return self._store.versions(name)

    def read(self, name: str, version: str, filename: str) -> bytes:
        return self._store.read(name, version, filename)

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        return self._store.metadata(name, version)

    def publish(
        self, name: str, files: dict[str, bytes], metadata: dict[str, Any], activate: bool = True
    ) -> str:
        raise PermissionError("a pinned view of the model store is read-only")

    def set_alias(self, name: str, alias: str, version: str | None, reason: str) -> AliasChange:
        raise PermissionError("a pinned view of the model store is read-only")

    def activate(self, name: str, version: str) -> None:
        raise PermissionError("a pinned view of the model store is read-only")

    def redact(self, name: str, version: str, files: dict[str, bytes], metadata: dict[str, Any]) -> None:
        raise PermissionError("a pinned view of the model store is read-only")


def golden_scores(
    settings: Settings, store: ArtifactStore, name: str, version: str
) -> evaluation.SystemScores:
    from api.search.ranking import load_config_file

    base = load_config_file(settings.ranking_config)
    ranking = msgspec.structs.replace(base, version=f"{base.version}+gate:{name}@{version}")
    with pipeline_search(settings, PinnedArtifacts(store, name, version)) as pipeline:
        report = evaluation.evaluate({"pipeline": pipeline(ranking)}, environment())
    return report.systems["pipeline"]


def golden(settings: Settings, registry: ModelRegistry, name: str, version: str) -> GateDecision:
    champion = registry.aliases(name).get(CHAMPION)
    if champion is None:
        return GateDecision(True, "offline", ["no champion yet: the first version is the baseline"])
    if champion == version:
        return GateDecision(True, "offline", ["it is the champion"])
    theirs = golden_scores(settings, registry.store, name, champion)
    ours = golden_scores(settings, registry.store, name, version)
    if ours.ndcg_at_10 is None or theirs.ndcg_at_10 is None:
        return GateDecision(False, "offline", ["the golden set has no query with a relevant product"])
    zero_ours, zero_theirs = ours.zero_result_rate or 0.0, theirs.zero_result_rate or 0.0
    passed = (
        ours.ndcg_at_10 >= theirs.ndcg_at_10 - TOLERANCE
        and zero_ours <= zero_theirs + MAX_ZERO_RESULT_INCREASE
    )
    return GateDecision(
        passed,
        "offline",
        [
            f"golden NDCG@10 {ours.ndcg_at_10:.4f} vs champion's {theirs.ndcg_at_10:.4f} "
            f"(tolerance {TOLERANCE})",
            f"zero-result rate {zero_ours:.2%} vs champion's {zero_theirs:.2%} "
            f"(limit +{MAX_ZERO_RESULT_INCREASE:.0%})",
            f"MRR {ours.mrr or 0.0:.4f} vs champion's {theirs.mrr or 0.0:.4f}",
        ],
    )

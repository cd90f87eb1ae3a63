"""The offline stage of the gate for search artifacts (the query-understanding vocabulary, the
synonym set, the embeddings with their FAISS index): golden NDCG@10 of the whole pipeline with the
candidate, against the pipeline with the champion, both measured in the same run (the catalog, the
judgments and the other artifacts are the same for both, so the difference is the candidate's).
Synonyms and embeddings live in a new index version: it is judged through a temporary alias before
the live alias moves.

Each side is the real API app in this process (pipelines/pipeline_search.py) reading the model store
through a view that pins the artifact to one version; each gets its own ranking version, so the
result cache never hands one side's pages to the other.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from pipelines import evaluation
from pipelines.bench.report import environment
from pipelines.pipeline_search import pipeline_search
from pipelines.registry.gate import GateDecision, baseline
from pipelines.registry.registry import ModelRegistry
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine
from quarry.model_aliases import CHAMPION, AliasChange
from quarry.settings import Settings

TOLERANCE = 0.005
"""Golden NDCG@10 the candidate may lose. Rebuilds of unchanged inputs measured here: the vocabulary
0.0004 lower, the same vectors in a new index version 0.0022 lower (HNSW graphs are not built
deterministically); losses beyond this are the candidate's doing."""
MAX_ZERO_RESULT_INCREASE = 0.01
STAGE = "golden"
"""The offline stage of search artifacts (what an alias change's reason names: "golden gate: ...")."""


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

    def local_file(self, name: str, version: str, filename: str) -> Path | None:
        return self._store.local_file(name, version, filename)

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


@contextlib.contextmanager
def _serving_index(settings: Settings, engine: SearchEngine | None, index: str | None) -> Iterator[Settings]:
    """Settings whose products alias serves `index` (a new index version, before the live alias
    moves): a temporary alias, removed afterwards. None: the live alias."""
    if index is None or engine is None:
        yield settings
        return
    alias = f"{settings.products_alias}-gate-{uuid.uuid4().hex[:8]}"
    engine.point_alias(alias, index)
    try:
        yield msgspec.structs.replace(settings, products_alias=alias)
    finally:
        engine.request("DELETE", f"/{index}/_alias/{alias}")


def golden_scores(
    settings: Settings,
    store: ArtifactStore,
    pin: tuple[str, str] | None = None,
    index: str | None = None,
    engine: SearchEngine | None = None,
) -> evaluation.SystemScores:
    """The pipeline's golden scores with `pin` (artifact, version) as that artifact's champion and
    `index` as the catalog (defaults: the store's champions, the live alias)."""
    from quarry.search.ranking import load_config_file

    base = load_config_file(settings.ranking_config)
    tag = f"{pin[0]}@{pin[1]}" if pin else "champions"
    ranking = msgspec.structs.replace(base, version=f"{base.version}+gate:{tag}:{index or 'live'}")
    with _serving_index(settings, engine, index) as local:
        view = PinnedArtifacts(store, *pin) if pin else store
        with pipeline_search(local, view) as pipeline:
            report = evaluation.evaluate({"pipeline": pipeline(ranking)}, environment())
    return report.systems["pipeline"]


def judged(ours: evaluation.SystemScores, theirs: evaluation.SystemScores) -> GateDecision:
    """The candidate's golden scores (`ours`) against the champion's, measured in the same run."""
    if ours.ndcg_at_10 is None or theirs.ndcg_at_10 is None:
        return GateDecision(False, STAGE, ["the golden set has no query with a relevant product"])
    zero_ours, zero_theirs = ours.zero_result_rate or 0.0, theirs.zero_result_rate or 0.0
    passed = (
        ours.ndcg_at_10 >= theirs.ndcg_at_10 - TOLERANCE
        and zero_ours <= zero_theirs + MAX_ZERO_RESULT_INCREASE
    )
    measured = {
        "golden_ndcg_at_10": ours.ndcg_at_10,
        "champion_golden_ndcg_at_10": theirs.ndcg_at_10,
        "golden_mrr": ours.mrr or 0.0,
        "champion_golden_mrr": theirs.mrr or 0.0,
        "golden_zero_result_rate": zero_ours,
        "champion_golden_zero_result_rate": zero_theirs,
    }
    return GateDecision(
        passed,
        STAGE,
        [
            f"golden NDCG@10 {ours.ndcg_at_10:.4f} vs champion's {theirs.ndcg_at_10:.4f} "
            f"(tolerance {TOLERANCE})",
            f"zero-result rate {zero_ours:.2%} vs champion's {zero_theirs:.2%} "
            f"(limit +{MAX_ZERO_RESULT_INCREASE:.0%})",
            f"MRR {ours.mrr or 0.0:.4f} vs champion's {theirs.mrr or 0.0:.4f}",
        ],
        metrics=measured,
    )


def golden(settings: Settings, registry: ModelRegistry, name: str, version: str) -> GateDecision:
    """A store artifact (the vocabulary): the pipeline with this version against the champion."""
    first = baseline(registry, name, version, STAGE)
    if first is not None:
        return first
    theirs = golden_scores(settings, registry.store)  # the store's champions, as served now
    return judged(golden_scores(settings, registry.store, (name, version)), theirs)


def golden_index(
    settings: Settings,
    engine: SearchEngine,
    store: ArtifactStore,
    index: str,
    pin: tuple[str, str] | None = None,
) -> GateDecision:
    """A new index version (new synonyms, new vectors), with the artifact built with it (`pin`:
    the FAISS version of those vectors), against the live alias and the champions."""
    theirs = golden_scores(settings, store)
    return judged(golden_scores(settings, store, pin, index, engine), theirs)

"""The golden gate for the query-understanding vocabulary on the real stack: the whole pipeline (the
API app in process, over the demo catalog in OpenSearch) answers the golden set once with the
champion vocabulary and once with the candidate pinned in its place.

- a rebuild from the same catalog is as good as the champion: it passes;
- a vocabulary built from a nearly empty catalog (a job that ran while the catalog was being
  re-imported) loses the brands and categories the queries name: refused, and the champion stays.
"""

from __future__ import annotations

import shutil

import msgspec
import pytest

from pipelines.indexing.versions import build_from_documents, versions
from pipelines.registry import golden_gate
from pipelines.registry.mirror import MemoryMirror
from pipelines.registry.registry import ModelRegistry
from pipelines.understanding import build_and_publish
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.vocabulary import ARTIFACT
from tests.conftest import make_product


@pytest.fixture
def registry(demo_catalog, tmp_path) -> ModelRegistry:
    """A copy of the demo catalog's model store: the gate test moves aliases in it."""
    shutil.copytree(demo_catalog.artifacts_dir, tmp_path / "artifacts")
    return ModelRegistry(LocalArtifactStore(tmp_path / "artifacts"), MemoryMirror())


@pytest.fixture
def nearly_empty_catalog(engine, settings):
    alias = "qt-nearly-empty"
    products = [make_product(f"E{n}", f"plain item {n}") for n in range(30)]
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])
    yield alias
    for index in versions(engine, alias):
        engine.delete_index(index)


def test_a_rebuild_passes_and_one_from_a_broken_catalog_is_refused(
    engine, demo_catalog, registry, nearly_empty_catalog
) -> None:
    settings = msgspec.structs.replace(demo_catalog, artifacts_dir=str(registry.store.root))
    champion = registry.store.current(ARTIFACT)
    assert champion is not None

    rebuilt = build_and_publish(engine, registry.store, demo_catalog.products_alias, activate=False)
    same = golden_gate.golden(settings, registry, ARTIFACT, rebuilt)
    assert same.passed, same.reasons
    assert "golden NDCG@10" in same.reasons[0]

    broken = build_and_publish(engine, registry.store, nearly_empty_catalog, activate=False)
    refused = golden_gate.golden(settings, registry, ARTIFACT, broken)
    assert not refused.passed, refused.reasons
    ours, theirs = (
        float(x)
        for x in refused.reasons[0].split("golden NDCG@10 ")[1].split(" (")[0].split(" vs champion's ")
    )
    assert ours < theirs - golden_gate.TOLERANCE
    assert registry.store.current(ARTIFACT) == champion  # the gate only looks

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


def ndcg_pair(reason: str) -> tuple[float, float]:
    """(candidate, champion) from the gate's "golden NDCG@10 0.6123 vs champion's 0.6544 ..." reason."""
    ours, theirs = reason.split("golden NDCG@10 ")[1].split(" (")[0].split(" vs champion's ")
    return float(ours), float(theirs)


def assert_recorded(registry: ModelRegistry, artifact: str, version: str, ours: float, theirs: float) -> None:
    """The gate's scores are in the version's record as metrics (MLflow logs them from there), not
    only in the alias log's reason."""
    metrics = registry.show(artifact, version)["metrics"]
    assert metrics["golden_ndcg_at_10"] == pytest.approx(ours, abs=5e-5)
    assert metrics["champion_golden_ndcg_at_10"] == pytest.approx(theirs, abs=5e-5)
    assert 0.0 <= metrics["golden_zero_result_rate"] <= 1.0 and metrics["golden_mrr"] > 0.0


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
    record = registry.show(ARTIFACT, rebuilt)
    assert record["input_snapshot"]["products_alias"] == demo_catalog.products_alias and record["code_commit"]
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


HARMFUL = """
# An edit gone wrong: one-way mappings that send everyday queries somewhere else entirely.
dress => frying pan
backpack => lipstick
sofa => yoga mat
blender => sleeping bag
headphones => coffee table
running shoes => refrigerator
"""


def test_synonym_edits_that_hurt_are_refused_and_the_live_index_keeps_serving(
    engine, demo_catalog, registry, tmp_path
) -> None:
    from pipelines import jobs

    synonyms = tmp_path / "synonyms"
    shutil.copytree(demo_catalog.synonyms_dir, synonyms)
    (synonyms / "products.txt").write_text((synonyms / "products.txt").read_text() + HARMFUL)
    settings = msgspec.structs.replace(
        demo_catalog,
        artifacts_dir=str(registry.store.root),
        synonyms_dir=str(synonyms),
        registry_mirror="none",
    )
    live = engine.alias_targets(demo_catalog.products_alias)

    result = jobs.synonyms_apply(settings)

    assert result["changed_terms"] and not result["applied"], result["gate"]
    ours, theirs = ndcg_pair(result["gate"][0])
    assert ours < theirs - golden_gate.TOLERANCE
    assert_recorded(registry, "synonyms", result["version"], ours, theirs)
    assert engine.alias_targets(demo_catalog.products_alias) == live
    assert not engine.index_exists(result["index"])  # the refused version is gone
    assert registry.store.aliases("synonyms") == {"candidate": result["version"]}
    assert not [
        a
        for a in engine.request("GET", "/_alias").values()
        if any("-gate-" in n for n in a.get("aliases", {}))
    ]


def test_vectors_from_a_broken_encoder_are_refused_and_nothing_moves(
    engine, demo_catalog, registry, tmp_path
) -> None:
    """An encoder that lost its weights (hash vectors of the right dimension) builds an index version
    and a FAISS artifact that look fine; the gate sees semantic retrieval fall apart."""
    from pipelines import jobs
    from pipelines.embeddings import embed_catalog
    from quarry.vector_index import ARTIFACT as VECTORS
    from tests.fakes import HashingEncoder

    # The hash vectors go to the embedding cache under their own model name, beside the real ones;
    # the cache also holds the category router's model, which a private cache would fetch again.
    settings = msgspec.structs.replace(
        demo_catalog, artifacts_dir=str(registry.store.root), registry_mirror="none"
    )
    alias, live = demo_catalog.products_alias, engine.alias_targets(demo_catalog.products_alias)
    champion = registry.store.current(VECTORS)
    assert champion is not None
    dimension = registry.store.metadata(VECTORS, champion)["dimension"]

    run = embed_catalog(engine, settings, registry.store, HashingEncoder(dimension), alias, activate=False)
    assert engine.alias_targets(alias) == live and registry.store.current(VECTORS) == champion

    outcome = jobs.judge_index_version(settings, alias, run)

    assert not outcome["promoted"], outcome["gate"]
    ours, theirs = ndcg_pair(outcome["gate"][0])
    assert ours < theirs - golden_gate.TOLERANCE
    assert_recorded(registry, VECTORS, run.artifact_version, ours, theirs)
    assert engine.alias_targets(alias) == live and not engine.index_exists(run.index)
    assert registry.store.aliases(VECTORS) == {"candidate": run.artifact_version, "champion": champion}

"""One contract for every VectorIndex: FAISS (what the service loads) and the exact brute-force index
(the ground truth for recall). Vectors are random unit vectors, so the right answers are known from
the data, not from the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.vector_index import (
    ARTIFACT,
    INDEX_FILE,
    ExactVectorIndex,
    FaissVectorIndex,
    VectorIndex,
    VectorIndexUnavailableError,
    load_vector_index,
    publish_vector_index,
)

DIM = 32


def unit_vectors(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


IDS = [f"P{i:04d}" for i in range(500)]
VECTORS = unit_vectors(len(IDS))


@pytest.fixture(params=["faiss", "exact"])
def index(request: pytest.FixtureRequest) -> VectorIndex:
    if request.param == "faiss":
        return FaissVectorIndex.build(IDS, VECTORS)
    return ExactVectorIndex(IDS, VECTORS)


def test_a_stored_vector_is_its_own_nearest_neighbour(index: VectorIndex) -> None:
    for row in (0, 123, 499):
        (best, score), *_ = index.search(VECTORS[row], 5)
        assert best == IDS[row] and score == pytest.approx(1.0, abs=1e-5)


def test_results_are_sorted_by_cosine_and_limited_to_k(index: VectorIndex) -> None:
    query = unit_vectors(1, seed=99)[0]
    results = index.search(query, 10)
    assert len(results) == 10 and len(index) == 500 and index.dimension == DIM
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True)
    # Each score is the cosine similarity of that product's vector with the query.
    for pid, score in results:
        assert score == pytest.approx(float(VECTORS[IDS.index(pid)] @ query), abs=1e-5)


def test_vectors_come_back_for_known_ids_only(index: VectorIndex) -> None:
    found = index.vectors(["P0003", "nope", "P0400"])
    assert set(found) == {"P0003", "P0400"}
    assert np.allclose(found["P0400"], VECTORS[400], atol=1e-6)


def test_k_larger_than_the_index_returns_everything(index: VectorIndex) -> None:
    small_ids, small = IDS[:3], VECTORS[:3]
    tiny = (
        FaissVectorIndex.build(small_ids, small)
        if isinstance(index, FaissVectorIndex)
        else ExactVectorIndex(small_ids, small)
    )
    assert {pid for pid, _ in tiny.search(VECTORS[0], 10)} == set(small_ids)


def numpy_top10(query: np.ndarray) -> set[str]:
    """Ground truth straight from the data, independent of both implementations."""
    return {IDS[i] for i in np.argsort(-(VECTORS @ query))[:10]}


def test_recall_at_10_against_brute_force(index: VectorIndex) -> None:
    queries = unit_vectors(100, seed=3)
    hits = sum(len({p for p, _ in index.search(q, 10)} & numpy_top10(q)) for q in queries)
    floor = 0.95 if isinstance(index, FaissVectorIndex) else 1.0
    assert hits / (10 * len(queries)) >= floor


def publish(tmp_path) -> tuple[LocalArtifactStore, str]:
    store = LocalArtifactStore(tmp_path)
    version = publish_vector_index(
        store, FaissVectorIndex.build(IDS, VECTORS), IDS, model="m", model_version="1", source_index="i"
    )
    return store, version


def test_the_artifact_round_trips_with_its_metadata(tmp_path) -> None:
    store, version = publish(tmp_path)
    loaded, metadata = load_vector_index(store, version)
    assert metadata.rows == 500 and metadata.dimension == DIM and metadata.model == "m"
    assert {"faiss-cpu", "numpy"} <= set(metadata.libraries)
    assert loaded.search(VECTORS[42], 1)[0][0] == "P0042"


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_artifact_is_refused_with_a_reason(tmp_path, damage: str) -> None:
    store, version = publish(tmp_path)
    path = tmp_path / ARTIFACT / version / INDEX_FILE
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        path.unlink()
    with pytest.raises(VectorIndexUnavailableError, match=version):
        load_vector_index(store, version)

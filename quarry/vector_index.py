"""Nearest-neighbour search over product embeddings, behind one small interface.

`FaissVectorIndex` (HNSW, inner product on L2-normalized vectors = cosine) is what the service loads
from the `faiss` artifact: it serves semantic candidates when OpenSearch's k-NN is unavailable and the
exact vectors for reranking a candidate window. `ExactVectorIndex` is brute force: the ground truth
for ANN recall and the in-memory implementation the contract tests hold FAISS to.

An artifact is checked before use (checksum and row count against its metadata); a truncated or
altered file raises `VectorIndexUnavailableError` so callers degrade to keyword search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import numpy as np

from quarry.adapters.artifact_store import ArtifactNotFoundError, ArtifactStore
from quarry.category_prototypes import CATEGORIES_FILE, ROUTER_FILE, CategoryPrototypes, CategoryRouter
from quarry.embeddings import Vectors

ARTIFACT = "faiss"
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.json"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128


class VectorIndexUnavailableError(ValueError):
    """No usable vector index: missing, truncated, checksum mismatch or unreadable."""


class VectorIndex(Protocol):
    dimension: int

    def __len__(self) -> int: ...
    def search(self, query: Vectors, k: int) -> list[tuple[str, float]]: ...
    def vectors(self, ids: Sequence[str]) -> dict[str, Vectors]: ...


class ExactVectorIndex:
    def __init__(self, ids: Sequence[str], vectors: Vectors) -> None:
        self._ids = list(ids)
        self._rows = {pid: i for i, pid in enumerate(self._ids)}
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dimension = int(self._vectors.shape[1])

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, query: Vectors, k: int) -> list[tuple[str, float]]:
        scores = self._vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        k = min(k, len(self._ids))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=int)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top]

    def vectors(self, ids: Sequence[str]) -> dict[str, Vectors]:
        return {pid: self._vectors[self._rows[pid]] for pid in ids if pid in self._rows}


class FaissVectorIndex:
    def __init__(
        self,
        index: Any,
        ids: Sequence[str],
        categories: CategoryPrototypes | None = None,
        router: CategoryRouter | None = None,
    ) -> None:
        self._index = index
        self._ids = list(ids)
        self._rows = {pid: i for i, pid in enumerate(self._ids)}
        self.dimension = int(index.d)
        # The category prototypes of the same vectors; None in artifacts built before they existed.
        self.categories = categories
        # Prototypes of the router model (quarry/category_prototypes.py); None when none was built.
        self.router = router

    @classmethod
    def build(cls, ids: Sequence[str], vectors: Vectors, m: int = HNSW_M) -> FaissVectorIndex:
        import faiss

        data = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexHNSWFlat(int(data.shape[1]), m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(data)
        return cls(index, ids)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def set_ef_search(self, ef: int) -> None:
        self._index.hnsw.efSearch = ef

    def search(self, query: Vectors, k: int) -> list[tuple[str, float]]:
        k = min(k, len(self._ids))
        if k == 0:
            return []
        scores, rows = self._index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        return [(self._ids[r], float(s)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]

    def vectors(self, ids: Sequence[str]) -> dict[str, Vectors]:
        found = [(pid, self._rows[pid]) for pid in ids if pid in self._rows]
        if not found:
            return {}
        matrix = self._index.reconstruct_batch(np.array([row for _, row in found], dtype=np.int64))
        return {pid: matrix[i] for i, (pid, _) in enumerate(found)}

    def to_bytes(self) -> bytes:
        import faiss

        return bytes(faiss.serialize_index(self._index).tobytes())


class VectorIndexMetadata(msgspec.Struct, frozen=True):
    """What the artifact records about itself (beside the store's own name/version/files)."""

    model: str
    model_version: str
    dimension: int
    rows: int
    sha256: str
    built_at: str
    source_index: str
    parameters: dict[str, int]
    libraries: dict[str, str]
    data_window: dict[str, Any] | None = None
    input_snapshot: dict[str, Any] | None = None
    code_commit: str | None = None
    """The registry's record (pipelines/registry/): what was encoded, from where, by which code."""


def publish_vector_index(
    store: ArtifactStore,
    index: FaissVectorIndex,
    ids: Sequence[str],
    model: str,
    model_version: str,
    source_index: str,
    categories: CategoryPrototypes | None = None,
    router: CategoryRouter | None = None,
    activate: bool = True,
    provenance: dict[str, Any] | None = None,
) -> str:
    """`provenance`: data_window, input_snapshot and code_commit for the registry's record."""
    data = index.to_bytes()
    metadata = VectorIndexMetadata(
        model=model,
        model_version=model_version,
        dimension=index.dimension,
        rows=len(ids),
        sha256=hashlib.sha256(data).hexdigest(),
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source_index=source_index,
        parameters={"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH},
        libraries={
            name: importlib.metadata.version(name) for name in ("faiss-cpu", "numpy", "sentence-transformers")
        },
        **(provenance or {}),
    )
    files = {INDEX_FILE: data, IDS_FILE: msgspec.json.encode(list(ids))}
    if categories is not None:
        files[CATEGORIES_FILE] = categories.to_bytes()
    if router is not None:
        files[ROUTER_FILE] = router.to_bytes()
    return store.publish(ARTIFACT, files, msgspec.to_builtins(metadata), activate=activate)


def load_vector_index(store: ArtifactStore, version: str) -> tuple[FaissVectorIndex, VectorIndexMetadata]:
    """The artifact's index after checking it against its metadata."""
    import faiss

    try:
        stored = store.metadata(ARTIFACT, version)
        metadata = msgspec.convert(stored, VectorIndexMetadata)
        data = store.read(ARTIFACT, version, INDEX_FILE)
        ids = msgspec.json.decode(store.read(ARTIFACT, version, IDS_FILE), type=list[str])
        categories = (
            CategoryPrototypes.from_bytes(store.read(ARTIFACT, version, CATEGORIES_FILE))
            if CATEGORIES_FILE in stored.get("files", [])
            else None
        )
        router = (
            CategoryRouter.from_bytes(store.read(ARTIFACT, version, ROUTER_FILE))
            if ROUTER_FILE in stored.get("files", [])
            else None
        )
    except (ArtifactNotFoundError, msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        raise VectorIndexUnavailableError(f"vector index {version}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != metadata.sha256:
        raise VectorIndexUnavailableError(
            f"vector index {version}: checksum mismatch (file {digest[:12]}, metadata {metadata.sha256[:12]})"
        )
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as exc:
        raise VectorIndexUnavailableError(f"vector index {version}: unreadable: {exc}") from exc
    if index.ntotal != metadata.rows or len(ids) != metadata.rows:
        raise VectorIndexUnavailableError(
            f"vector index {version}: {index.ntotal} vectors and {len(ids)} ids; "
            f"the metadata says {metadata.rows}"
        )
    if categories is not None and len(categories) and categories.dimension != index.d:
        raise VectorIndexUnavailableError(
            f"vector index {version}: category prototypes have {categories.dimension} dimensions, "
            f"the index {index.d}"
        )
    return FaissVectorIndex(index, ids, categories, router), metadata

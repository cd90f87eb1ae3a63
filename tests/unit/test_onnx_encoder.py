"""The ONNX query encoders against the torch model they are exported from (no services needed)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.embeddings import EmbeddingModelUnavailableError, SentenceTransformerEncoder
from quarry.onnx_encoder import (
    MODEL_FILE,
    artifact_name,
    load_onnx_encoder,
    publish_onnx_encoder,
    stale_precisions,
)

MODEL = "all-MiniLM-L6-v2"
# Not the texts the export checks itself on.
TEXTS = [
    "waterproof hiking boots for women",
    "gift for a coffee lover",
    "USB-C charger 65W",
    "queen bamboo sheets",
]


@pytest.fixture(scope="module")
def torch_encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(MODEL)


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, torch_encoder: SentenceTransformerEncoder
) -> LocalArtifactStore:
    store = LocalArtifactStore(tmp_path_factory.mktemp("encoders"))
    publish_onnx_encoder(store, torch_encoder, "fp32")
    publish_onnx_encoder(store, torch_encoder, "int8")
    return store


@pytest.mark.parametrize(("precision", "floor"), [("fp32", 0.9999), ("int8", 0.9)])
def test_onnx_vectors_agree_with_the_torch_model(store, torch_encoder, precision: str, floor: float) -> None:
    onnx = load_onnx_encoder(store, MODEL, precision)  # type: ignore[arg-type]
    ours, reference = onnx.encode(TEXTS), torch_encoder.encode(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.sum(ours * reference, axis=1).min() >= floor
    assert onnx.variant == f"onnx-{precision}" and onnx.dimension == 384


def test_the_artifact_records_what_it_was_exported_from(store) -> None:
    name = artifact_name("int8")
    metadata = store.metadata(name, store.current(name))
    assert metadata["model"] == MODEL and metadata["precision"] == "int8"
    assert 0.9 <= metadata["metrics"]["min_cosine_to_torch"] <= 1.0
    assert {"onnxruntime", "torch"} <= set(metadata["libraries"])


def test_a_missing_or_foreign_export_is_refused_with_a_reason(tmp_path, store) -> None:
    with pytest.raises(EmbeddingModelUnavailableError, match="make embeddings"):
        load_onnx_encoder(LocalArtifactStore(tmp_path), MODEL, "fp32")
    with pytest.raises(EmbeddingModelUnavailableError, match="exported from"):
        load_onnx_encoder(store, "all-mpnet-base-v2", "fp32")


def test_an_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(EmbeddingModelUnavailableError, match=r"no offline source.*all-mpnet-base-v2"):
        SentenceTransformerEncoder("all-MiniLM-L12-v2")


def test_concurrent_encodes_give_the_sequential_vectors(store) -> None:
    """The API encodes queries from several threads at once, without a lock around the session."""
    onnx = load_onnx_encoder(store, MODEL, "fp32")
    texts = [f"{text} {n}" for n in range(40) for text in TEXTS[:2]]
    expected = {text: onnx.encode([text])[0] for text in texts}
    results: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def encode(chunk: list[str]) -> None:
        try:
            for text in chunk:
                results[text] = onnx.encode([text])[0]
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=encode, args=(texts[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(np.allclose(results[t], expected[t], atol=1e-6) for t in texts)


def test_the_export_carries_its_tokenizer(store, monkeypatch) -> None:
    """A host serving queries needs the model store only, not the model's package or files."""
    with_model_files = load_onnx_encoder(store, MODEL, "fp32").encode(TEXTS)

    def no_model_files(*args: object, **kwargs: object) -> None:
        raise EmbeddingModelUnavailableError("model files are not on this host")

    monkeypatch.setattr("quarry.onnx_encoder.model_directory", no_model_files)
    from_store_only = load_onnx_encoder(store, MODEL, "fp32")
    assert np.array_equal(from_store_only.encode(TEXTS), with_model_files)


def test_an_export_without_a_tokenizer_reads_the_models_files(tmp_path, store) -> None:
    """Exports published before the tokenizer was shipped keep loading."""
    name = artifact_name("fp32")
    version = store.current(name)
    metadata = {k: v for k, v in store.metadata(name, version).items() if k != "tokenizer_files"}
    older = LocalArtifactStore(tmp_path)
    older.publish(name, {MODEL_FILE: store.read(name, version, MODEL_FILE)}, metadata)
    vectors = load_onnx_encoder(older, MODEL, "fp32").encode(TEXTS)
    assert np.array_equal(vectors, load_onnx_encoder(store, MODEL, "fp32").encode(TEXTS))
    model_version = metadata["model_version"]
    assert "fp32" in stale_precisions(older, MODEL, model_version)  # `make embeddings` re-exports it
    assert "fp32" not in stale_precisions(store, MODEL, model_version)

"""The ONNX query encoders against the torch model they are exported from (no services needed)."""

from __future__ import annotations

import subprocess
import sys
import threading
import tracemalloc

import msgspec
import numpy as np
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.embeddings import EmbeddingModelUnavailableError, SentenceTransformerEncoder
from quarry.onnx_encoder import (
    MAX_TOKENS,
    MODEL_FILE,
    artifact_name,
    load_onnx_encoder,
    load_router_encoder,
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


def test_the_shipped_tokenizer_gives_the_ids_transformers_gives(store) -> None:
    """Serving tokenizes with the `tokenizers` library alone; the export was checked against the
    torch model through transformers' tokenizer, so both must give the same ids, masks and padding."""
    from quarry.onnx_encoder import FastTokenizer, _tokenizer

    name = artifact_name("fp32")
    version = store.current(name)
    files = {f: store.read(name, version, f) for f in store.metadata(name, version)["tokenizer_files"]}
    texts = [
        "Waterproof HIKING boots",
        "crème brûlée torch, stainless",
        '65" 4K TV — wall-mount',
        "",
        "   ",
        "日本の緑茶 green tea 🍵",
        "usb-c hub (7-in-1) w/ HDMI & PD 100W",
        " ".join(["lightweight breathable running shoes for men"] * 60),  # past MAX_TOKENS
    ]
    ours = FastTokenizer(files).batch(texts)
    theirs = _tokenizer(MODEL)(
        texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np"
    )
    assert ours["input_ids"].shape == (len(texts), MAX_TOKENS)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert np.array_equal(ours[key], theirs[key]), key


def test_serving_an_export_imports_neither_torch_nor_transformers(store) -> None:
    """Importing them cost each API worker about 25 s of CPU at start."""
    script = (
        "import sys\n"
        "from quarry.adapters.artifact_store import LocalArtifactStore\n"
        "from quarry.onnx_encoder import load_onnx_encoder\n"
        f"encoder = load_onnx_encoder(LocalArtifactStore({str(store.root)!r}), {MODEL!r}, 'fp32')\n"
        "assert encoder.encode(['running shoes']).shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_loaded_export_keeps_no_copy_of_its_model_in_python_memory(store) -> None:
    """ONNX Runtime keeps model bytes it is given for the session's life: the router's 436 MB
    mpnet twice in every API worker. Loaded from the store's file, only the session holds it."""
    name = artifact_name("fp32")
    size = len(store.read(name, store.current(name), MODEL_FILE))
    tracemalloc.start()
    try:
        encoder = load_onnx_encoder(store, MODEL, "fp32")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert encoder.encode(["running shoes"]).shape == (1, 384)
    assert held < size / 4, f"{held / 2**20:.0f} MiB of Python memory held for a {size / 2**20:.0f} MiB model"


def test_the_router_model_has_its_own_fp32_export(tmp_path, torch_encoder, settings) -> None:
    """The category router's model is exported beside the query encoder, fp32 only, and served from
    the export; without one the torch model routes (slower to start, same vectors)."""
    router_store = LocalArtifactStore(tmp_path)
    router_settings = msgspec.structs.replace(settings, category_router_model=MODEL)
    assert isinstance(load_router_encoder(router_settings, router_store), SentenceTransformerEncoder)
    assert stale_precisions(router_store, MODEL, torch_encoder.model_version, "router") == ["fp32"]
    publish_onnx_encoder(router_store, torch_encoder, "fp32", role="router")
    assert router_store.current("router-encoder-fp32") is not None
    assert router_store.current(artifact_name("fp32")) is None  # the query encoder's export is apart
    assert stale_precisions(router_store, MODEL, torch_encoder.model_version, "router") == []
    served = load_router_encoder(router_settings, router_store)
    assert served.variant == "onnx-fp32"
    assert np.sum(served.encode(TEXTS) * torch_encoder.encode(TEXTS), axis=1).min() >= 0.9999

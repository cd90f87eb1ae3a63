"""Query encoding through ONNX Runtime: the embedding model's own weights exported to ONNX, in fp32
(numerically the torch model) or int8 (dynamic quantization). Encoding a query with torch took about
7 ms of CPU, half of an uncached hybrid search; ONNX Runtime takes about 2.4 ms (fp32) or 0.6 ms
(int8) per query in a first experiment; reports/bench-search.md has the measured stage times
(docs/semantic-search.md#query-encoding-speed).

The exported model is a versioned artifact (`query-encoder-<precision>`, and `router-encoder-fp32`
for the category router's model), built offline from the installed weights by `make embeddings`; its
metadata records the model, its package version, the precision, library versions and how closely its
vectors agree with the torch model's. Serving from the exports needs neither torch nor transformers:
importing them cost each API worker about 25 s of CPU at start.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import logging
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quarry.adapters.artifact_store import ArtifactNotFoundError, ArtifactStore
from quarry.embeddings import (
    EmbeddingModelUnavailableError,
    Encoder,
    SentenceTransformerEncoder,
    Vectors,
    model_directory,
)
from quarry.settings import Settings

Precision = Literal["fp32", "int8"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8")
# Whose encoder an export is: the catalog model's query encoder, or the category router's model.
Role = Literal["query", "router"]
# int8 keeps MiniLM's vectors (0.96 cosine) but not mpnet's (0.76), the router's model.
ROUTER_PRECISIONS: tuple[Precision, ...] = ("fp32",)
MODEL_FILE = "model.onnx"
log = logging.getLogger("quarry.onnx")
MAX_TOKENS = 256
WEAK_AGREEMENT = 0.95  # min cosine to the torch model's vectors below which a warning is logged
AGREEMENT_SAMPLE = (
    "running shoes",
    "something to keep a drink cold on a hike",
    "red nike sneakers size 10",
    "organic green tea 100 count",
    "65 inch 4k tv",
)


def artifact_name(precision: Precision, role: Role = "query") -> str:
    return f"{role}-encoder-{precision}"


def _tokenizer(model_name: str, cache_dir: str | Path | None = None) -> Any:
    """From the model's own files (a fetched model needs its directory in QUARRY_CACHE_DIR)."""
    from transformers import AutoTokenizer

    directory, _ = model_directory(model_name, cache_dir)
    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


def _tokenizer_files(tokenizer: Any) -> dict[str, bytes]:
    """The tokenizer as the files `save_pretrained` writes (vocabulary, special tokens, settings)."""
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        return {path.name: path.read_bytes() for path in Path(folder).iterdir() if path.is_file()}


class FastTokenizer:
    """The shipped tokenizer.json run by the `tokenizers` library: what transformers' fast tokenizer
    runs underneath, without importing transformers (about 6 s of CPU per API worker at start).
    Padding to the batch's longest text and truncation at MAX_TOKENS, as the encoder asks of
    transformers' tokenizer when it exports (tests/unit/test_onnx_encoder.py compares the two)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        from tokenizers import Tokenizer

        try:
            # Newer exports name the padding token in tokenizer_config.json, older ones in
            # special_tokens_map.json.
            named = {
                **json.loads(files.get("special_tokens_map.json", b"{}")),
                **json.loads(files.get("tokenizer_config.json", b"{}")),
            }
            pad = named.get("pad_token") or "[PAD]"
            pad = str(pad["content"]) if isinstance(pad, dict) else str(pad)
            self._tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode())
        except Exception as exc:  # json, a missing file, or the tokenizers library's own errors
            raise EmbeddingModelUnavailableError(f"the shipped tokenizer is unusable: {exc}") from exc
        pad_id = self._tokenizer.token_to_id(pad)
        if pad_id is None:
            raise EmbeddingModelUnavailableError(f"the shipped tokenizer has no padding token {pad!r}")
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad)

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }


def _tokenizer_from(files: dict[str, bytes]) -> Any:
    """Exports before transformers 4 wrote tokenizer.json ship only the slow tokenizer's files."""
    if "tokenizer.json" in files:
        return FastTokenizer(files)
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            (Path(folder) / name).write_bytes(content)
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def export_onnx(model_name: str) -> bytes:
    """The transformer of `model_name` as fp32 ONNX bytes (mean pooling is done outside, in numpy)."""
    import torch
    from transformers import AutoModel

    directory, _ = model_directory(model_name)
    transformer = AutoModel.from_pretrained(str(directory), local_files_only=True).eval()

    sample = _tokenizer(model_name)(["a sample query"], return_tensors="pt")
    # BERT-like models take token_type_ids, MPNet does not: export the inputs this model accepts.
    accepted = inspect.signature(transformer.forward).parameters
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample and n in accepted]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # The TorchScript exporter warns about how it lowers BERT's indexing ops; the agreement check
        # in publish_onnx_encoder is what tells whether the export is right.
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            LastHiddenState(),
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
        return fp32.read_bytes()


def quantize_int8(fp32_model: bytes) -> bytes:
    """Dynamic int8 quantization of an fp32 ONNX model."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        fp32.write_bytes(fp32_model)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        return int8.read_bytes()


class OnnxEncoder:
    def __init__(
        self,
        model_name: str,
        model: bytes | Path,
        model_version: str,
        precision: Precision,
        threads: int = 1,
        cache_dir: str | Path | None = None,
        tokenizer: Any = None,
    ) -> None:
        """`model`: the ONNX file, or its bytes (which the session then keeps for its life).
        `tokenizer`: the one shipped in the artifact; None reads the model's own files."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for a bad model
            raise EmbeddingModelUnavailableError(f"ONNX query encoder unusable: {exc}") from exc
        self._tokenizer = tokenizer if tokenizer is not None else _tokenizer(model_name, cache_dir)
        # Encodes run concurrently (the session is thread-safe and releases the GIL while it computes);
        # the tokenizer sets its padding/truncation state per call, so it is used one call at a time.
        self._tokenize_lock = threading.Lock()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.model_name = model_name
        self.model_version = model_version
        self.variant = f"onnx-{precision}"
        self.dimension = int(self._session.get_outputs()[0].shape[-1] or 0) or len(self.encode(["x"])[0])

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def _tokenize(self, texts: list[str]) -> Any:
        if isinstance(self._tokenizer, FastTokenizer):
            return self._tokenizer.batch(texts)
        return self._tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np"
        )

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        out = []
        for start in range(0, len(texts), batch_size):
            with self._tokenize_lock:
                batch = self._tokenize(list(texts[start : start + batch_size]))
            feed = {name: batch[name].astype(np.int64) for name in self._inputs}
            hidden = self._session.run(None, feed)[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
        return np.vstack(out).astype(np.float32)


def publish_onnx_encoder(
    store: ArtifactStore,
    reference: Encoder,
    precision: Precision,
    fp32_model: bytes | None = None,
    role: Role = "query",
) -> str:
    """Export (or take `fp32_model`, exported once for both precisions), check against the torch
    encoder on a sample, publish."""
    fp32 = fp32_model if fp32_model is not None else export_onnx(reference.model_name)
    model_bytes = fp32 if precision == "fp32" else quantize_int8(fp32)
    tokenizer = _tokenizer_files(_tokenizer(reference.model_name))
    # Checked as it is served: with the shipped tokenizer files, not the model's own tokenizer.
    candidate = OnnxEncoder(
        reference.model_name,
        model_bytes,
        reference.model_version,
        precision,
        tokenizer=_tokenizer_from(tokenizer),
    )
    agreement = np.sum(candidate.encode(AGREEMENT_SAMPLE) * reference.encode(AGREEMENT_SAMPLE), axis=1)
    metadata = {
        "model": reference.model_name,
        "model_version": reference.model_version,
        "precision": precision,
        "dimension": candidate.dimension,
        "tokenizer_files": sorted(tokenizer),
        "metrics": {"min_cosine_to_torch": round(float(agreement.min()), 4)},
        "libraries": {
            name: importlib.metadata.version(name)
            for name in ("onnxruntime", "onnx", "torch", "transformers")
        },
    }
    # The tokenizer travels with the weights: a host serving queries needs the model store only.
    return store.publish(artifact_name(precision, role), {MODEL_FILE: model_bytes, **tokenizer}, metadata)


def load_onnx_encoder(
    store: ArtifactStore,
    model_name: str,
    precision: Precision,
    threads: int = 1,
    cache_dir: str | Path | None = None,
    role: Role = "query",
) -> OnnxEncoder:
    name = artifact_name(precision, role)
    version = store.current(name)
    if version is None:
        raise EmbeddingModelUnavailableError(f"no {name} artifact: run make embeddings")
    try:
        metadata = store.metadata(name, version)
        # From its file where the store has one: ONNX Runtime holds bytes it is given (one more
        # copy of the weights per worker, 436 MB for the router's mpnet).
        local = store.local_file(name, version, MODEL_FILE)
        model: bytes | Path = local if local is not None else store.read(name, version, MODEL_FILE)
        shipped = {f: store.read(name, version, f) for f in metadata.get("tokenizer_files", [])}
    except ArtifactNotFoundError as exc:
        raise EmbeddingModelUnavailableError(f"{name} {version}: {exc}") from exc
    if metadata.get("model") != model_name:
        raise EmbeddingModelUnavailableError(
            f"{name} {version} was exported from {metadata.get('model')}, not {model_name}"
        )
    agreement = float(metadata.get("metrics", {}).get("min_cosine_to_torch", 1.0))
    if agreement < WEAK_AGREEMENT:
        # int8 keeps MiniLM's vectors (0.96 cosine) but not mpnet's (0.76): relevance would drop.
        log.warning(
            "query encoder disagrees with the torch model; prefer fp32",
            extra={"artifact": name, "version": version, "min_cosine_to_torch": agreement},
        )
    version_of_model = str(metadata.get("model_version"))
    tokenizer = _tokenizer_from(shipped) if shipped else None  # exports before the tokenizer shipped
    return OnnxEncoder(model_name, model, version_of_model, precision, threads, cache_dir, tokenizer)


def stale_precisions(
    store: ArtifactStore, model_name: str, model_version: str, role: Role = "query"
) -> list[Precision]:
    """The exports of `role` missing, exported from another model or model version, or made before
    exports carried their tokenizer."""
    stale: list[Precision] = []
    for precision in PRECISIONS if role == "query" else ROUTER_PRECISIONS:
        name = artifact_name(precision, role)
        current = store.current(name)
        metadata = store.metadata(name, current) if current is not None else {}
        exported_from = (metadata.get("model"), metadata.get("model_version"))
        if exported_from != (model_name, model_version) or "tokenizer_files" not in metadata:
            stale.append(precision)
    return stale


def _precision(choice: str) -> Precision:
    """A setting's value ("onnx-int8" or "onnx-fp32") as the export's precision."""
    return "int8" if choice == "onnx-int8" else "fp32"


def _export_or_torch(
    settings: Settings, store: ArtifactStore, model: str, precision: Precision, role: Role
) -> Encoder:
    """The model store's export of `model`, one thread (the API's workers already use every core);
    the torch model when the export is not available (slower, same vectors)."""
    try:
        return load_onnx_encoder(store, model, precision, threads=1, cache_dir=settings.cache_dir, role=role)
    except EmbeddingModelUnavailableError as exc:
        log.warning("ONNX encoder unavailable; encoding with torch", extra={"role": role, "error": str(exc)})
    return SentenceTransformerEncoder(model, threads=1, cache_dir=settings.cache_dir)


def load_query_encoder(settings: Settings, store: ArtifactStore) -> Encoder:
    """The configured query encoder (QUARRY_QUERY_ENCODER)."""
    if settings.query_encoder == "torch":
        return SentenceTransformerEncoder(settings.embedding_model, threads=1, cache_dir=settings.cache_dir)
    return _export_or_torch(
        settings, store, settings.embedding_model, _precision(settings.query_encoder), "query"
    )


def load_router_encoder(settings: Settings, store: ArtifactStore) -> Encoder:
    """The category router's model (QUARRY_CATEGORY_ROUTER_MODEL) from its fp32 export."""
    return _export_or_torch(settings, store, settings.category_router_model, "fp32", "router")


def load_meaning_encoder(settings: Settings, store: ArtifactStore) -> Encoder | None:
    """The encoder the spelling corrector weighs meaning with (QUARRY_SPELLING_MEANING_ENCODER): int8
    by default, a third of fp32's CPU for the same choices of reading (docs/query-understanding.md);
    None when it is off or its export is not in the model store."""
    if settings.spelling_meaning_encoder == "off":
        return None
    try:
        return load_onnx_encoder(
            store,
            settings.embedding_model,
            _precision(settings.spelling_meaning_encoder),
            threads=1,
            cache_dir=settings.cache_dir,
        )
    except EmbeddingModelUnavailableError as exc:
        log.warning("spelling meaning encoder unavailable: pair counts only", extra={"error": str(exc)})
        return None

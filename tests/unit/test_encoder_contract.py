"""One contract for every query/product encoder: the torch model, its ONNX export and the hashing
fake used to exercise other model shapes."""

from __future__ import annotations

import numpy as np
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.embeddings import Encoder, SentenceTransformerEncoder
from quarry.onnx_encoder import load_onnx_encoder, publish_onnx_encoder
from tests.fakes import HashingEncoder

TEXTS = ["running shoes", "insulated water bottle 24 oz", "Gift for a coffee lover", "running shoes"]


@pytest.fixture(scope="module", params=["torch", "onnx-fp32", "hashing-768"])
def encoder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    if request.param == "hashing-768":
        return HashingEncoder(768)
    torch_encoder = SentenceTransformerEncoder("all-MiniLM-L6-v2")
    if request.param == "torch":
        return torch_encoder
    store = LocalArtifactStore(tmp_path_factory.mktemp("onnx"))
    publish_onnx_encoder(store, torch_encoder, "fp32")
    return load_onnx_encoder(store, "all-MiniLM-L6-v2", "fp32")


def test_vectors_are_unit_length_float32_of_the_declared_dimension(encoder: Encoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), encoder.dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encoding_is_deterministic_and_independent_of_batching(encoder: Encoder) -> None:
    batch = encoder.encode(TEXTS)
    single = np.vstack([encoder.encode([t]) for t in TEXTS])
    assert np.allclose(batch, single, atol=1e-4)
    assert np.allclose(batch[0], batch[3])  # the same text, the same vector


def test_related_texts_are_closer_than_unrelated_ones(encoder: Encoder) -> None:
    if isinstance(encoder, HashingEncoder):
        pytest.skip("word hashing knows no meaning; it shares words only")
    shoes, bottle, coffee = encoder.encode(["trail running sneakers", "insulated flask", "espresso beans"])
    query = encoder.encode(["shoes for jogging"])[0]
    assert float(query @ shoes) > max(float(query @ bottle), float(query @ coffee))

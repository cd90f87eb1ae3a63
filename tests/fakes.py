"""In-memory stand-ins behind Quarry's adapter interfaces, for tests of pure logic. Each one passes
the same contract tests as the real adapters (tests/unit/test_encoder_contract.py): the hashing
encoder passes the structural ones (shape, unit length, determinism, batching) and is exempt from the
one about meaning, which word hashing cannot have. It stands in for a model no package ships (768
dimensions), never for OpenSearch or Redis."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from quarry.embeddings import Vectors


class HashingEncoder:
    """Deterministic unit vectors from word hashes, of any dimension: lets the embedding pipeline be
    exercised with a model shape no installed package ships (e.g. 768 dimensions like mpnet)."""

    variant = "hashing"
    model_version = "0"

    def __init__(self, dimension: int, model_name: str = "hashing-test") -> None:
        self.dimension = dimension
        self.model_name = model_name

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.sha1(word.encode(), usedforsecurity=False).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dimension] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dimension)
        return out

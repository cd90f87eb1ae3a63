"""How well words fit the rest of a query in meaning, and a query each category: evidence that word
lists and pair counts lack.

The spelling corrector's second kind of context: word-pair counts say which candidate usually follows
a neighbour ("cool designs"), but the English pair list has a few hundred thousand pairs and no shop's
phrases: "hamster cage", "dish soap" and "queen mattress" are not in it, so "cahe", "soal" and "matrss"
fall to the most frequent word one edit away ("case", "soul", "mass"). The sentence encoder that
semantic search already loads knows that a cage belongs with a hamster. `EncoderRelatedness` asks it,
for an unknown word's likeliest readings only, and remembers each text's vector (shoppers repeat the
same words).

Entity extraction asks `CategoryFit` whether a brand that is an everyday word is the brand at all:
"apple pie" fits the grocery's products, not Apple's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from quarry.category_prototypes import CategoryPrototypes
from quarry.embeddings import Encoder, Vectors
from quarry.lru import Lru

# Vectors of this many texts stay in memory (384 floats each: about 15 MB for MiniLM).
REMEMBERED_TEXTS = 10_000


class Relatedness(Protocol):
    """Cosine similarity of each text with a context (the query's other words)."""

    def similarities(self, texts: Sequence[str], context: str) -> list[float]: ...


class EncoderRelatedness:
    """`Relatedness` from a sentence encoder's vectors (L2-normalized, so a dot product is a cosine)."""

    def __init__(self, encoder: Encoder, remembered: int = REMEMBERED_TEXTS) -> None:
        self._encoder = encoder
        self._vectors: Lru[str, Vectors] = Lru(remembered)

    def similarities(self, texts: Sequence[str], context: str) -> list[float]:
        vectors = self._vectors_of([context, *texts])
        return [float(np.dot(vector, vectors[0])) for vector in vectors[1:]]

    def _vectors_of(self, texts: Sequence[str]) -> list[Vectors]:
        known = {text: vector for text in texts if (vector := self._vectors.get(text)) is not None}
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            encoded = self._encoder.encode(missing)  # one batch: one call into the model
            for text, vector in zip(missing, encoded, strict=True):
                known[text] = vector
                self._vectors.put(text, vector)
        return [known[text] for text in texts]


class CategoryFit(Protocol):
    """How well a text fits each category's products: the cosine with each category prototype, by
    category path ("Grocery > Pantry > Snacks"); None when there are no prototypes or no encoder."""

    def fit(self, text: str) -> dict[str, float] | None: ...


class PrototypeFit:
    """`CategoryFit` from the category prototypes that `make embeddings` publishes with the FAISS
    artifact (quarry/category_prototypes.py): the same vectors semantic search ranks descriptive queries
    by. `vector` encodes a text (the API's cached query vectors); `prototypes` gives the served ones."""

    def __init__(
        self,
        vector: Callable[[str], Vectors | None],
        prototypes: Callable[[], CategoryPrototypes | None],
    ) -> None:
        self._vector = vector
        self._prototypes = prototypes

    def fit(self, text: str) -> dict[str, float] | None:
        prototypes = self._prototypes()
        if prototypes is None or not len(prototypes):
            return None
        vector = self._vector(text)
        return prototypes.similarities(vector) if vector is not None else None

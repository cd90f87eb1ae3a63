import numpy as np
import pytest

from quarry.category_prototypes import CategoryPrototypes
from quarry.understanding.meaning import EncoderRelatedness, PrototypeFit

# Unit vectors written by hand: "cage" points where "hamster" does, "case" at right angles.
VECTORS = {
    "hamster": np.array([1.0, 0.0, 0.0], dtype=np.float32),
    "cage": np.array([0.8, 0.6, 0.0], dtype=np.float32),
    "case": np.array([0.0, 0.0, 1.0], dtype=np.float32),
}


class CountingEncoder:
    model_name = "hand-made"
    model_version = "1"
    dimension = 3
    variant = "test"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts, batch_size: int = 64, progress: bool = False):
        self.batches.append(list(texts))
        return np.stack([VECTORS[text] for text in texts])


def test_similarities_are_cosines_with_the_context() -> None:
    relatedness = EncoderRelatedness(CountingEncoder())
    assert relatedness.similarities(["cage", "case"], "hamster") == pytest.approx([0.8, 0.0])


def test_vectors_are_remembered_and_missing_ones_encoded_in_one_batch() -> None:
    encoder = CountingEncoder()
    relatedness = EncoderRelatedness(encoder)
    relatedness.similarities(["cage"], "hamster")
    relatedness.similarities(["cage", "case", "case"], "hamster")
    assert encoder.batches == [["hamster", "cage"], ["case"]]


def test_the_oldest_vectors_are_forgotten_beyond_the_limit() -> None:
    encoder = CountingEncoder()
    relatedness = EncoderRelatedness(encoder, remembered=2)
    relatedness.similarities(["cage"], "hamster")
    relatedness.similarities(["case"], "hamster")  # "cage" is now the oldest, and forgotten
    relatedness.similarities(["cage"], "hamster")
    assert encoder.batches[-1] == ["cage"]


def test_prototype_fit_is_the_cosine_with_each_served_prototype() -> None:
    prototypes = CategoryPrototypes(
        ["Toys > Pets > Hamsters", "Electronics > Phones > Cases"],
        np.stack([VECTORS["cage"], VECTORS["case"]]),
        [5, 5],
    )
    served: list[CategoryPrototypes | None] = [None]
    fit = PrototypeFit(lambda text: VECTORS[text], lambda: served[0])
    assert fit.fit("hamster") is None  # no prototypes served yet
    served[0] = prototypes
    assert fit.fit("hamster") == pytest.approx(
        {"Toys > Pets > Hamsters": 0.8, "Electronics > Phones > Cases": 0.0}
    )
    assert PrototypeFit(lambda text: None, lambda: prototypes).fit("hamster") is None  # no encoder

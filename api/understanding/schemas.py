from __future__ import annotations

import msgspec


class Entities(msgspec.Struct, frozen=True, omit_defaults=False):
    """Immutable, like `UnderstoodQuery`: one instance is shared by every request for the same query
    (the understanding memo) and by the cached pages that embed it."""

    brand: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    color: tuple[str, ...] = ()
    size: tuple[str, ...] = ()
    material: tuple[str, ...] = ()


class Correction(msgspec.Struct):
    """`text` is the corrected query (None when nothing changed); `confidence` is in [0, 1]."""

    text: str | None
    confidence: float


class UnderstoodQuery(msgspec.Struct, frozen=True):
    original: str
    normalized: str
    corrected: str | None
    did_you_mean: str | None
    correction_confidence: float
    intent: str
    entities: Entities

    @property
    def effective(self) -> str:
        """The text retrieval uses: the correction when it was applied automatically."""
        return self.corrected or self.normalized

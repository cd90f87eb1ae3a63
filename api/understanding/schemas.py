from __future__ import annotations

import msgspec


class Entities(msgspec.Struct, omit_defaults=False):
    brand: list[str] = msgspec.field(default_factory=list)
    category: list[str] = msgspec.field(default_factory=list)
    color: list[str] = msgspec.field(default_factory=list)
    size: list[str] = msgspec.field(default_factory=list)
    material: list[str] = msgspec.field(default_factory=list)


class Correction(msgspec.Struct):
    """`text` is the corrected query (None when nothing changed); `confidence` is in [0, 1]."""

    text: str | None
    confidence: float


class UnderstoodQuery(msgspec.Struct):
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

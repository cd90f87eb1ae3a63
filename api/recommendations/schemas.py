from __future__ import annotations

import msgspec


class RecommendedItem(msgspec.Struct):
    product_id: str
    score: float
    reason: str


class RecommendationsResponse(msgspec.Struct):
    strategy: str
    items: list[RecommendedItem]
    user_id: str | None = None
    product_id: str | None = None
    model_version: str | None = None

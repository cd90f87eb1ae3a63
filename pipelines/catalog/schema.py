"""The catalog's one product shape, shared by the generator, the importers and the indexer."""

from __future__ import annotations

from typing import Any

import msgspec

CATEGORY_SEPARATOR = " > "


class Product(msgspec.Struct, kw_only=True):
    """A product as Quarry stores it; `to_document` gives the OpenSearch document."""

    product_id: str
    title: str
    brand: str
    category_path: list[str]
    description: str = ""
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    price: float | None = None
    rating: float | None = None
    review_count: int = 0
    in_stock: bool = True
    created_at: str | None = None
    popularity_score: float = 0.0

    def to_document(self) -> dict[str, Any]:
        levels = [*self.category_path, None, None, None]
        return {
            "product_id": self.product_id,
            "title": self.title,
            "brand": self.brand,
            "category_lvl1": levels[0],
            "category_lvl2": levels[1],
            "category_lvl3": levels[2],
            "category_path": CATEGORY_SEPARATOR.join(self.category_path),
            "description": self.description,
            "attributes": self.attributes,
            "price": self.price,
            "rating": self.rating,
            "review_count": self.review_count,
            "in_stock": self.in_stock,
            "created_at": self.created_at,
            "popularity_score": self.popularity_score,
        }

from __future__ import annotations

import msgspec


class ProductDetail(msgspec.Struct):
    product_id: str
    title: str
    brand: str
    category_path: str
    categories: list[str]
    description: str
    attributes: dict[str, str]
    price: float | None
    rating: float | None
    review_count: int
    in_stock: bool
    created_at: str | None

from __future__ import annotations

from typing import Any

from api.products.schemas import ProductDetail
from quarry.adapters.search_engine import SearchEngine
from quarry.api_keys import NO_FILTERS, FixedFilters
from quarry.search.query_builder import key_filter_clauses


def product_from_source(source: dict[str, Any]) -> ProductDetail:
    levels = [source[k] for k in ("category_lvl1", "category_lvl2", "category_lvl3") if source.get(k)]
    return ProductDetail(
        product_id=str(source["product_id"]),
        title=source.get("title", ""),
        brand=source.get("brand", ""),
        category_path=source.get("category_path", ""),
        categories=levels,
        description=source.get("description", ""),
        attributes={str(k): str(v) for k, v in (source.get("attributes") or {}).items()},
        price=source.get("price"),
        rating=source.get("rating"),
        review_count=int(source.get("review_count") or 0),
        in_stock=bool(source.get("in_stock", False)),
        created_at=source.get("created_at"),
    )


class ProductService:
    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self.engine = engine
        self.alias = alias

    def get(self, product_id: str, fixed: FixedFilters = NO_FILTERS) -> ProductDetail | None:
        """None when unknown, or outside the API key's fixed filters: a product page must not show
        what a search with the same key could not find."""
        # Through the alias: a get by id needs the physical index, so search by the keyword id instead.
        query = {"bool": {"filter": [{"term": {"product_id": product_id}}, *key_filter_clauses(fixed)]}}
        result = self.engine.search(self.alias, {"size": 1, "query": query})
        return product_from_source(result.hits[0].source) if result.hits else None

    def many(self, product_ids: list[str], fixed: FixedFilters = NO_FILTERS) -> list[ProductDetail]:
        """In the order asked, without the unknown ones and those outside the key's fixed filters
        (one request: a shelf of recommendations shows titles and prices)."""
        if not product_ids:
            return []
        query = {"bool": {"filter": [{"terms": {"product_id": product_ids}}, *key_filter_clauses(fixed)]}}
        result = self.engine.search(self.alias, {"size": len(product_ids), "query": query})
        found = {
            detail.product_id: detail for detail in map(product_from_source, (h.source for h in result.hits))
        }
        return [found[product_id] for product_id in product_ids if product_id in found]

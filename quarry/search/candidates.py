"""Candidates read from doc values (see query_builder.DOCVALUE_FIELDS), turned into the flat product
records that ranking and the response use."""

from __future__ import annotations

from typing import Any

from quarry.adapters.search_engine import Hit


def _float32_as_written(value: Any) -> float | None:
    """A `float` field's doc value is the float32 widened to a double (4.3 -> 4.300000190734863); six
    significant digits give back the number as it was indexed."""
    return None if value is None else float(f"{float(value):.6g}")


# `price` is a scaled_float with scaling_factor 100 (mappings/products.json): its doc value is the
# stored long times 0.01, so 19.99 reads 19.990000000000002 until rounded back to cents.
PRICE_DECIMALS = 2


def from_docvalues(hit: Hit) -> Hit:
    record: dict[str, Any] = {
        name.removesuffix(".keyword"): values[0] for name, values in hit.fields.items() if values
    }
    if "created_at" in record:
        record["created_at"] = float(record["created_at"])  # epoch milliseconds
    if "price" in record:
        record["price"] = round(float(record["price"]), PRICE_DECIMALS)
    if "rating" in record:
        record["rating"] = _float32_as_written(record["rating"])
    return Hit(
        id=str(record.get("product_id", hit.id)),
        score=hit.score,
        source=record,
        explanation=hit.explanation,
        # As returned, for the LTR features (quarry/ltr/features.py), which read the raw doc values.
        fields=hit.fields,
        matched=hit.matched,
    )

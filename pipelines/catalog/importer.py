"""Importers for real catalogs: CSV, JSONL and Parquet in Quarry's schema, and WANDS' product.csv.

Every row ends either as a `Product` or as a `Rejection` with its row number and reason; nothing is
dropped silently. The schema is documented in docs/catalog-format.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from pipelines.catalog.schema import CATEGORY_SEPARATOR, Product

FORMATS = ("csv", "jsonl", "parquet", "wands")
MAX_CATEGORY_LEVELS = 3
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}


class Rejection(msgspec.Struct, frozen=True):
    row: int
    product_id: str | None
    reason: str


class RowError(ValueError):
    """Why one row cannot become a product."""


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "jsonl", "parquet"):
        return suffix
    if suffix in ("ndjson", "json"):
        return "jsonl"
    if suffix in ("tsv",):
        return "wands"
    raise RowError(f"cannot tell the format of {path.name}; pass --format ({', '.join(FORMATS)})")


# --- field parsing ---------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _text(raw: dict[str, Any], name: str, required: bool = False) -> str:
    value = raw.get(name)
    if _blank(value):
        if required:
            raise RowError(f"missing {name}")
        return ""
    return str(value).strip()


def _number(raw: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value: Any = raw.get(name)
    if _blank(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{name} is not a number: {value!r}") from None
    if math.isnan(number) or not low <= number <= high:
        raise RowError(f"{name} out of range [{low}, {high}]: {value!r}")
    return number


def _count(raw: dict[str, Any], name: str) -> int:
    number = _number(raw, name, 0, 1e12)
    if number is None:
        return 0
    if number != int(number):
        raise RowError(f"{name} is not a whole number: {raw.get(name)!r}")
    return int(number)


def _boolean(raw: dict[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name)
    if _blank(value):
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise RowError(f"{name} is not a boolean: {value!r}")


def _date(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if _blank(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value).strip()
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"{name} is not an ISO 8601 date: {value!r}") from None
    return text


def _categories(value: Any, separator: str) -> list[str]:
    if _blank(value):
        raise RowError("missing category_path")
    levels = (
        [str(v).strip() for v in value]
        if isinstance(value, (list, tuple))
        else [part.strip() for part in str(value).split(separator)]
    )
    if any(not level for level in levels):
        raise RowError(f"empty level in category_path: {value!r}")
    return levels


def _attributes(raw: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    value = raw.get("attributes")
    if not _blank(value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise RowError("attributes is not a JSON object") from None
        if isinstance(value, list):  # Parquet maps arrive as [(key, value), ...]
            value = dict(value)
        if not isinstance(value, dict):
            raise RowError("attributes is not an object")
        attributes.update({str(k).strip().lower(): str(v).strip() for k, v in value.items() if not _blank(v)})
    for key, item in raw.items():  # CSV: one column per attribute, "attr.<name>"
        if key.startswith("attr.") and not _blank(item):
            attributes[key[5:].strip().lower()] = str(item).strip()
    return attributes


def product_from_row(raw: dict[str, Any]) -> Product:
    """Quarry's own schema (CSV, JSONL, Parquet)."""
    return Product(
        product_id=_text(raw, "product_id", required=True),
        title=_text(raw, "title", required=True),
        brand=_text(raw, "brand"),
        category_path=_categories(raw.get("category_path"), CATEGORY_SEPARATOR.strip()),
        description=_text(raw, "description"),
        attributes=_attributes(raw),
        price=_number(raw, "price", 0, 1e9),
        rating=_number(raw, "rating", 0, 5),
        review_count=_count(raw, "review_count"),
        in_stock=_boolean(raw, "in_stock", default=True),
        created_at=_date(raw, "created_at"),
    )


def _wands_features(text: str) -> dict[str, str]:
    features: dict[str, str] = {}
    for pair in text.split("|"):
        if not pair.strip():
            continue
        key, sep, value = pair.partition(":")
        if not sep or not key.strip():
            raise RowError(f"product_features entry is not key:value: {pair!r}")
        if value.strip():
            features[key.strip().lower().replace(" ", "_")] = value.strip()
    return features


def product_from_wands(raw: dict[str, Any]) -> Product:
    """WANDS product.csv (tab-separated). WANDS has no brand, price, stock or dates."""
    attributes = _wands_features(_text(raw, "product_features"))
    product_class = _text(raw, "product_class")
    if product_class:
        attributes["product_class"] = product_class
    return Product(
        product_id=_text(raw, "product_id", required=True),
        title=_text(raw, "product_name", required=True),
        brand="",
        category_path=_categories(raw.get("category_hierarchy"), " / "),
        description=_text(raw, "product_description"),
        attributes=attributes,
        rating=_number(raw, "average_rating", 0, 5),
        review_count=_count(raw, "review_count"),
    )


# --- readers ---------------------------------------------------------------------------------------


def _read_csv(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            number = reader.line_num
            if None in row:
                yield number, RowError(f"more fields than the header has ({len(reader.fieldnames or [])})")
            elif any(value is None for value in row.values()):
                yield number, RowError("fewer fields than the header has")
            else:
                yield number, row


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError(f"invalid JSON: {exc.msg}")
                continue
            yield number, value if isinstance(value, dict) else RowError("a line is not a JSON object")


def _read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    import pyarrow.parquet as pq  # heavy; only the Parquet route pays for it

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=5000):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def read_catalog(path: Path, fmt: str) -> Iterator[Product | Rejection]:
    """Products and rejections in file order; duplicate product ids after the first are rejected."""
    readers = {
        "csv": lambda: _read_csv(path, ","),
        "wands": lambda: _read_csv(path, "\t"),
        "jsonl": lambda: _read_jsonl(path),
        "parquet": lambda: _read_parquet(path),
    }
    convert = product_from_wands if fmt == "wands" else product_from_row
    seen: set[str] = set()
    for number, row in readers[fmt]():
        if isinstance(row, RowError):
            yield Rejection(row=number, product_id=None, reason=str(row))
            continue
        raw_id = row.get("product_id")
        product_id = None if _blank(raw_id) else str(raw_id).strip()
        try:
            product = convert(row)
        except RowError as exc:
            yield Rejection(row=number, product_id=product_id, reason=str(exc))
            continue
        if product.product_id in seen:
            yield Rejection(row=number, product_id=product.product_id, reason="duplicate product_id")
            continue
        seen.add(product.product_id)
        yield product

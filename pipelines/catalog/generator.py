"""Deterministic demo catalog: the same seed and size always give the same products, byte for byte."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pipelines.catalog.schema import Product
from pipelines.catalog.vocabulary import (
    BOOK_WORDS_A,
    BOOK_WORDS_B,
    DESCRIPTION_CLOSERS,
    DESCRIPTION_OPENERS,
    PRODUCT_TYPES,
    SERIES_WORDS,
    ProductType,
)

# Attribute keys that only exist to keep templates readable collapse into the facet names shoppers see.
ATTRIBUTE_ALIASES = {
    "shoe_size": "size",
    "bed_size": "size",
    "size_cm": "size",
    "ball_size": "size",
    "capacity_oz": "capacity",
    "capacity_l": "capacity",
    "capacity_cuft": "capacity",
    "volume_ml": "volume",
    "pieces_puzzle": "pieces",
}
FIRST_DAY = dt.date(2019, 1, 1)
LAST_DAY = dt.date(2026, 10, 31)


@dataclass
class _Family:
    """What the near-duplicate members of one product family share."""

    product_type: ProductType
    brand: str
    noun: str
    adjective: str
    model: str
    series: str
    target: str
    book_title: str
    attributes: dict[str, str]
    price: float


def _pick_family(rng: random.Random, pt: ProductType) -> _Family:
    brand = rng.choice(pt.brands)
    models = pt.models.get(brand)
    model = (
        rng.choice(models)
        if models
        else f"{rng.choice(SERIES_WORDS)} {rng.randint(2, 9)}{rng.choice('0357')}0"
    )
    series = rng.choice(models) if models else rng.choice(SERIES_WORDS)
    target = ""
    if pt.targets:
        target_brand = rng.choice(sorted(pt.targets))
        target = f"{target_brand} {rng.choice(pt.targets[target_brand])}"
    low, high = pt.price
    price = math.exp(rng.uniform(math.log(low), math.log(high)))
    return _Family(
        product_type=pt,
        brand=brand,
        noun=rng.choice(pt.nouns),
        adjective=rng.choice(pt.adjectives) if pt.adjectives else "",
        model=model,
        series=series,
        target=target,
        book_title=f"{rng.choice(BOOK_WORDS_A)} {rng.choice(BOOK_WORDS_B)}",
        attributes={name: rng.choice(values) for name, values in pt.attributes.items()},
        price=price,
    )


def _render(template: str, values: dict[str, str]) -> str:
    text = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), ""), template)
    text = re.sub(r"\s+([,)])", r"\1", text)
    text = re.sub(r"\(\s*\)|\s-\s*$|,\s*$", "", text)
    return re.sub(r"\s{2,}", " ", text).strip(" -,")


def _describe(rng: random.Random, family: _Family, attributes: dict[str, str]) -> str:
    pt = family.product_type
    values = {
        "noun": family.noun,
        "brand": family.brand,
        "adjective": family.adjective or "practical",
        "feature": rng.choice(pt.features) if pt.features else "thoughtful details",
        "category": pt.path[-1].lower(),
    }
    parts = [_render(rng.choice(DESCRIPTION_OPENERS), values)]
    if family.target:
        parts.append(f"Made to fit the {family.target}.")
    details = ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in sorted(attributes.items()))
    if details:
        parts.append(f"Details - {details}.")
    closer = _render(rng.choice(DESCRIPTION_CLOSERS), values)
    if closer:
        parts.append(closer)
    return " ".join(parts)


def _product(rng: random.Random, index: int, family: _Family, attributes: dict[str, str]) -> Product:
    pt = family.product_type
    template_values = {
        "brand": family.brand,
        "noun": family.noun,
        "adjective": family.adjective,
        "model": family.model,
        "series": family.series,
        "target": family.target,
        "book_title": family.book_title,
        **attributes,
    }
    title = _render(rng.choice(pt.templates), template_values)
    title = title[0].upper() + title[1:]
    price = max(0.99, round(family.price * rng.uniform(0.95, 1.05)) - 0.01)
    reviewed = rng.random() < 0.92
    rating = round(min(5.0, max(1.0, rng.gauss(4.1, 0.6))), 1) if reviewed else None
    review_count = min(25000, int(rng.paretovariate(1.1) * 4)) if reviewed else 0
    day = FIRST_DAY + dt.timedelta(days=rng.randint(0, (LAST_DAY - FIRST_DAY).days))
    return Product(
        product_id=f"P{index:06d}",
        title=title,
        brand=family.brand,
        category_path=list(pt.path),
        description=_describe(rng, family, attributes),
        attributes={ATTRIBUTE_ALIASES.get(k, k): v for k, v in attributes.items()},
        price=price,
        rating=rating,
        review_count=review_count,
        in_stock=rng.random() < 0.9,
        created_at=day.isoformat(),
        # A prior until behavioural popularity exists: well-reviewed, much-reviewed products sell.
        popularity_score=round(review_count * (rating or 0.0) / 5, 2),
    )


def generate_catalog(size: int, seed: int) -> Iterator[Product]:
    """Yield `size` products; families of 2-4 near-duplicates differ in one variant attribute."""
    rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not security
    weights = [pt.weight for pt in PRODUCT_TYPES]
    index = 0
    while index < size:
        pt = rng.choices(PRODUCT_TYPES, weights)[0]
        family = _pick_family(rng, pt)
        members = 1 if rng.random() < 0.65 else rng.randint(2, 4)
        for member in range(members):
            if index >= size:
                return
            attributes = dict(family.attributes)
            if member and pt.variants:
                varied = rng.choice([v for v in pt.variants if v in pt.attributes] or [None])
                if varied:
                    attributes[varied] = rng.choice(pt.attributes[varied])
            yield _product(rng, index, family, attributes)
            index += 1

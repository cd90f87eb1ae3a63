import itertools
import re
from collections import Counter, defaultdict

import msgspec
import pytest

from pipelines.catalog.generator import generate_catalog

TOP_LEVEL = {
    "Electronics",
    "Fashion",
    "Books",
    "Home & Kitchen",
    "Sports & Outdoors",
    "Grocery",
    "Beauty",
    "Toys",
}


@pytest.fixture(scope="module")
def catalog():
    return list(generate_catalog(5000, seed=7))


def test_same_seed_same_catalog_byte_for_byte() -> None:
    first = b"".join(msgspec.json.encode(p) for p in generate_catalog(500, seed=11))
    second = b"".join(msgspec.json.encode(p) for p in generate_catalog(500, seed=11))
    other = b"".join(msgspec.json.encode(p) for p in generate_catalog(500, seed=12))
    assert first == second
    assert first != other


def test_size_and_unique_ids(catalog) -> None:
    assert len(catalog) == 5000
    assert len({p.product_id for p in catalog}) == 5000


def test_taxonomy_has_the_eight_departments_with_two_or_three_levels(catalog) -> None:
    assert {p.category_path[0] for p in catalog} == TOP_LEVEL
    assert all(2 <= len(p.category_path) <= 3 for p in catalog)
    per_department = Counter(p.category_path[0] for p in catalog)
    assert min(per_department.values()) > 100


def test_fields_are_plausible(catalog) -> None:
    for p in catalog:
        assert p.title and p.brand and p.description
        assert p.price is not None and 0 < p.price < 10000
        assert p.rating is None or 1.0 <= p.rating <= 5.0
        assert p.review_count >= 0
        assert re.fullmatch(r"20(19|2\d)-\d\d-\d\d", p.created_at or "")
    assert 0.8 < sum(p.in_stock for p in catalog) / len(catalog) < 0.97


def test_brands_cross_categories(catalog) -> None:
    departments = defaultdict(set)
    for p in catalog:
        departments[p.brand].add(p.category_path[0])
    assert {"Electronics", "Home & Kitchen"} <= departments["Samsung"]
    assert {"Fashion", "Sports & Outdoors"} <= departments["Nike"]
    assert len([b for b, d in departments.items() if len(d) > 1]) >= 4


def test_apple_means_fruit_and_brand(catalog) -> None:
    fruit = [p for p in catalog if p.category_path[0] == "Grocery" and "apple" in p.title.lower()]
    brand = [p for p in catalog if p.brand == "Apple" and p.category_path[0] == "Electronics"]
    assert fruit and brand


def test_accessories_name_the_product_they_fit(catalog) -> None:
    cases = [p for p in catalog if p.category_path[-1] == "Phone Cases"]
    assert any(
        re.search(r"(for|compatible with) (Apple iPhone|Samsung Galaxy|Google Pixel)", p.title) for p in cases
    )


def test_near_duplicate_families_exist(catalog) -> None:
    # Neighbours in a family share brand, leaf category and description opener, and differ in one attribute.
    pairs = 0
    for a, b in itertools.pairwise(catalog):
        if a.brand == b.brand and a.category_path == b.category_path:
            differing = [k for k in a.attributes if a.attributes[k] != b.attributes.get(k)]
            if len(differing) == 1:
                pairs += 1
    assert pairs > 300


def test_no_product_says_couch(catalog) -> None:
    # The synonym tests rely on sofas being called sofas.
    assert not any("couch" in (p.title + p.description).lower() for p in catalog)
    assert any("sofa" in p.title.lower() for p in catalog)

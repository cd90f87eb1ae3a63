"""Numbers in queries as constraints: hand-written queries and the filters a person reads in them."""

import pytest

from quarry.search.schemas import SearchRequest
from quarry.search.understand import with_query_filters
from quarry.text import normalize
from quarry.understanding.numeric import UnitIndex, parse
from quarry.understanding.schemas import AppliedFilter

UNITS = UnitIndex(
    {
        "screen": ["43-inch", "55-inch", "65-inch"],
        "storage": ["128gb", "256gb", "1tb"],
        "capacity": ["32 oz", "40 oz", "1.5l"],
        "height": ["8 inch", "12 inch"],
        "height_alt": ["12 inch"],  # "12 inch" is in two attributes: ambiguous, stays text
        "color": ["black"],
    }
)


def filters(query: str) -> tuple[str, list[tuple[str, str, float | str]]]:
    parsed = parse(query.split(), UNITS)
    return " ".join(parsed.words), [(f.field, f.operator, f.value) for f in parsed.filters]


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("dress under 30", "dress", [("price", "lte", 30.0)]),
        ("running shoes below 100", "running shoes", [("price", "lte", 100.0)]),
        ("blender less than 100 dollars", "blender", [("price", "lte", 100.0)]),
        ("headphones between 50 and 150", "headphones", [("price", "gte", 50.0), ("price", "lte", 150.0)]),
        ("tv over 500", "tv", [("price", "gte", 500.0)]),
        ("sofa up to 800 bucks", "sofa", [("price", "lte", 800.0)]),
        ("yoga mat 4 stars and up", "yoga mat", [("rating", "gte", 4.0)]),
        ("5 star rated blender", "blender", [("rating", "gte", 4.5)]),
        ("tent rated 4 and above", "tent", [("rating", "gte", 4.0)]),
        ("backpack at least 4 stars", "backpack", [("rating", "gte", 4.0)]),
        ("55 inch tv", "tv", [("attributes.screen", "eq", "55-inch")]),
        ("samsung 65in tv", "samsung tv", [("attributes.screen", "eq", "65-inch")]),
        ("256gb iphone", "iphone", [("attributes.storage", "eq", "256gb")]),
        ("32 oz water bottle", "water bottle", [("attributes.capacity", "eq", "32 oz")]),
        ("dress from 20 to 50", "dress", [("price", "gte", 20.0), ("price", "lte", 50.0)]),
        ("watch max 200 dollars", "watch", [("price", "lte", 200.0)]),
        ("128gb or 256gb iphone", "128gb or 256gb iphone", []),  # one of two values: no AND of both
    ],
)
def test_numbers_become_filters_and_leave_the_text(query, text, expected) -> None:
    assert filters(query) == (text, expected)


@pytest.mark.parametrize(
    "query",
    [
        "iphone 15",  # a model number is no price
        "sneakers size 10",  # a size, read by entity extraction
        "4 star blender",  # no "and up", no "rated": unsure
        "12 inch teddy bear",  # two attributes hold "12 inch"
        "50 inch tv",  # no such screen in the catalog
        "under 30",  # nothing would be left to search for
        "under the sea puzzle",
        "between 20 and 40 inch tv",  # a range of a unit, not of prices
        "nike air max 90",  # a model, not "at most 90"
        "lego sets from 2020",  # a year
        "within 2 days delivery chair",
        "vitamins for women over 50",  # an age
        "toys for kids under 5",
        "dog bed for dogs over 50 lb",
    ],
)
def test_numbers_that_are_not_sure_constraints_stay_text(query) -> None:
    assert filters(query) == (query, [])


def test_thousands_separators_are_one_number() -> None:
    assert filters(normalize("tv under $1,000")) == ("tv", [("price", "lte", 1000.0)])


def test_the_tighter_bound_wins_over_the_request() -> None:
    request = SearchRequest(q="dress under 30", price_max=50.0, price_min=10.0)
    applied = (
        AppliedFilter("price", "lte", 30.0, "under 30"),
        AppliedFilter("rating", "gte", 4.0, "4 stars and up"),
        AppliedFilter("attributes.color", "eq", "black", "black"),
    )
    merged = with_query_filters(request, applied)
    assert (merged.price_min, merged.price_max, merged.rating_min) == (10.0, 30.0, 4.0)
    assert merged.attributes == (("color", "black"),)
    assert with_query_filters(request, ()) is request

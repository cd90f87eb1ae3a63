"""The golden set's grading rules (pipelines/golden.py), worked by hand on made-up products."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.catalog.schema import Product
from pipelines.golden import GoldenQuery, Reading, _reading, grade, load_queries, parse_constraint

DEPARTMENTS = {
    "Dresses": "Fashion",
    "Shirts": "Fashion",
    "Sneakers": "Fashion",
    "Smartphones": "Electronics",
    "Phone Cases": "Electronics",
    "Televisions": "Electronics",
    "Construction Sets": "Toys",
    "Small Appliances": "Home & Kitchen",
}
PATHS = {
    "Dresses": ["Fashion", "Women", "Dresses"],
    "Shirts": ["Fashion", "Men", "Shirts"],
    "Sneakers": ["Fashion", "Shoes", "Sneakers"],
    "Smartphones": ["Electronics", "Phones", "Smartphones"],
    "Phone Cases": ["Electronics", "Accessories", "Phone Cases"],
    "Televisions": ["Electronics", "TV & Video", "Televisions"],
    "Construction Sets": ["Toys", "Building Toys", "Construction Sets"],
    "Small Appliances": ["Home & Kitchen", "Kitchen", "Small Appliances"],
}


def product(
    leaf: str,
    title: str = "",
    *,
    brand: str = "Basics Co.",
    price: float | None = 50.0,
    rating: float | None = 4.2,
    description: str = "",
    **attributes: str,
) -> Product:
    return Product(
        product_id="P000001",
        title=title or leaf.lower(),
        brand=brand,
        category_path=PATHS[leaf],
        description=description,
        attributes=attributes,
        price=price,
        rating=rating,
    )


def query(leaves: str, constraints: str = "", kind: str = "numeric") -> GoldenQuery:
    leaf_options = leaves.split(" | ")
    constraint_options = (
        constraints.split(" | ") if " | " in constraints else [constraints] * len(leaf_options)
    )
    readings = tuple(_reading(lv, cs) for lv, cs in zip(leaf_options, constraint_options, strict=True))
    return GoldenQuery(query="q", kind=kind, readings=readings)


def graded(q: GoldenQuery, p: Product) -> int:
    return grade(p, q, DEPARTMENTS)


# --- numeric constraints: attribute constraints, so an unmet one lowers 4 to 3 or 2, never below ---


def test_price_below_a_bound() -> None:
    under_30 = query("Dresses", "price<30")  # "dress under 30"
    assert graded(under_30, product("Dresses", price=29.99)) == 4
    assert graded(under_30, product("Dresses", price=30.0)) == 2  # strict: 30 is not under 30
    assert graded(under_30, product("Dresses", price=89.99)) == 2  # a dress, the wrong price: still partly
    assert graded(under_30, product("Shirts", price=9.99)) == 0  # cheap, but not a dress
    assert graded(query("Dresses", "price<=30"), product("Dresses", price=30.0)) == 4


def test_price_above_a_bound() -> None:
    over_1000 = query("Televisions", "price>1000")  # "tv over 1000"
    assert graded(over_1000, product("Televisions", price=1000.0)) == 2
    assert graded(over_1000, product("Televisions", price=1000.99)) == 4
    assert graded(query("Televisions", "price>=1000"), product("Televisions", price=1000.0)) == 4


def test_a_price_range_is_one_constraint_met_or_not() -> None:
    between = query("Dresses", "price>=20;price<=40")  # "dress between 20 and 40"
    assert [graded(between, product("Dresses", price=p)) for p in (19.99, 20.0, 30.0, 40.0, 40.01)] == [
        2,
        4,
        4,
        4,
        2,
    ]
    # Beside a colour: two attribute constraints, the range counting once. Half met is 3.
    red_between = query("Dresses", "color=red;price>=20;price<=40")
    assert graded(red_between, product("Dresses", price=30.0, color="red")) == 4
    assert graded(red_between, product("Dresses", price=55.0, color="red")) == 3
    assert graded(red_between, product("Dresses", price=30.0, color="blue")) == 3
    assert graded(red_between, product("Dresses", price=55.0, color="blue")) == 2


def test_rating_at_or_above() -> None:
    four_and_up = query("Sneakers", "rating>=4")  # "sneakers 4 stars and up"
    assert graded(four_and_up, product("Sneakers", rating=4.0)) == 4
    assert graded(four_and_up, product("Sneakers", rating=3.9)) == 2
    assert graded(four_and_up, product("Sneakers", rating=None)) == 2  # unreviewed: not 4 stars
    five_star = query("Small Appliances", "title=blender;rating>=4.5")  # "5 star rated blender"
    assert graded(five_star, product("Small Appliances", "Ninja blender", rating=4.5)) == 4
    assert graded(five_star, product("Small Appliances", "Ninja blender", rating=5.0)) == 4
    assert graded(five_star, product("Small Appliances", "Ninja blender", rating=4.4)) == 2
    assert graded(five_star, product("Small Appliances", "Ninja toaster", rating=5.0)) == 1  # not a blender


def test_a_product_without_a_price_fails_a_price_constraint() -> None:
    assert graded(query("Dresses", "price<30"), product("Dresses", price=None)) == 2


def test_price_and_rating_together_are_two_constraints() -> None:
    cheap_and_good = query("Sneakers", "price<100;rating>=4")
    assert graded(cheap_and_good, product("Sneakers", price=80.0, rating=4.5)) == 4
    assert graded(cheap_and_good, product("Sneakers", price=120.0, rating=4.5)) == 3
    assert graded(cheap_and_good, product("Sneakers", price=120.0, rating=3.0)) == 2


def test_identity_still_comes_first() -> None:
    lego_over_100 = query("Construction Sets", "brand=LEGO;price>100")  # "lego sets over 100"
    assert graded(lego_over_100, product("Construction Sets", brand="LEGO", price=150.0)) == 4
    assert graded(lego_over_100, product("Construction Sets", brand="LEGO", price=50.0)) == 2
    assert graded(lego_over_100, product("Construction Sets", brand="Mega Bloks", price=150.0)) == 1


def test_units_are_attribute_values() -> None:
    iphone_256 = query("Smartphones", "brand=Apple;title=iPhone;storage=256GB")  # "256gb iphone"
    assert (
        graded(
            iphone_256, product("Smartphones", "Apple iPhone 15 256GB phone", brand="Apple", storage="256GB")
        )
        == 4
    )
    assert (
        graded(iphone_256, product("Smartphones", "Apple iPhone 15 phone", brand="Apple", storage="128GB"))
        == 2
    )
    assert (
        graded(iphone_256, product("Smartphones", "Galaxy S24 phone", brand="Samsung", storage="256GB")) == 1
    )
    tv_55 = query("Televisions", "screen=55-inch;price<500")  # "55 inch tv under 500"
    assert graded(tv_55, product("Televisions", screen="55-inch", price=450.0)) == 4
    assert graded(tv_55, product("Televisions", screen="65-inch", price=450.0)) == 3
    assert graded(tv_55, product("Televisions", screen="65-inch", price=900.0)) == 2


# --- absent: nothing the catalog sells ---


def test_an_absent_query_grades_every_product_zero() -> None:
    lawn_mower = query("-", kind="absent")
    assert lawn_mower.readings == (Reading((), ()),)
    for leaf in PATHS:
        assert graded(lawn_mower, product(leaf, "lawn mower", brand="Apple", price=1.0, rating=5.0)) == 0


# --- readings over every leaf and accessories ---


def test_a_reading_over_every_leaf_makes_its_constraints_identity() -> None:
    orange = query("Dresses | *", "title=orange | color=orange")  # fruit-ish reading, then the colour
    assert graded(orange, product("Shirts", color="orange")) == 4
    assert graded(orange, product("Shirts", color="blue")) == 1  # not "right leaf, wrong colour" (2)


def test_an_accessory_fits_the_exact_model_or_any_model_of_a_family() -> None:
    def case(model: str) -> Product:
        return product(
            "Phone Cases", f"Slim case for {model}", description=f"A case. Made to fit the {model}. Details."
        )

    iphone_15 = query("Phone Cases", "target=Apple iPhone 15", kind="accessory")
    assert graded(iphone_15, case("Apple iPhone 15")) == 4
    assert graded(iphone_15, case("Apple iPhone 15 Pro")) == 1  # does not fit an iPhone 15
    any_iphone = query("Phone Cases", "target=Apple iPhone", kind="accessory")
    assert graded(any_iphone, case("Apple iPhone 15 Pro")) == 4
    assert graded(any_iphone, case("Samsung Galaxy S24")) == 1
    # The phone itself: same department, names the model (grade 1 of the rules)
    assert graded(iphone_15, product("Smartphones", "Apple iPhone 15 128GB phone", brand="Apple")) == 1


# --- the file format ---


@pytest.mark.parametrize(
    "text",
    ["price=30", "rating=5", "price<cheap", "color<3", "title>=x", "brand", "=Apple", "price<"],
)
def test_malformed_constraints_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_constraint(text)


def test_comparisons_parse() -> None:
    assert [
        (c.key, c.op, c.value) for c in _reading("Dresses", "price>=20; price<=40;rating>4.5").constraints
    ] == [
        ("price", ">=", "20"),
        ("price", "<=", "40"),
        ("rating", ">", "4.5"),
    ]
    assert _reading("Laptops", "screen=15.6-inch").constraints[0].value == "15.6-inch"


@pytest.mark.parametrize(("leaves", "constraints"), [("", ""), ("-", "color=red"), ("-,Sofas", "")])
def test_a_reading_names_leaves_or_stands_alone_as_absent(leaves: str, constraints: str) -> None:
    with pytest.raises(ValueError):
        _reading(leaves, constraints)


def test_load_queries(tmp_path: Path) -> None:
    path = tmp_path / "queries.tsv"
    path.write_text(
        "# comment\n"
        "dress under 30\tnumeric\tDresses\tprice<30\n"
        "lawn mower\tabsent\t-\t\n"
        "mouse\tambiguous\tMice & Keyboards | Stuffed Animals\ttitle=mouse | title=mouse\n",
        encoding="utf-8",
    )
    dress, mower, mouse = load_queries(path)
    assert dress.readings[0].constraints[0].op == "<"
    assert mower.kind == "absent" and mower.readings == (Reading((), ()),)
    assert [r.leaves for r in mouse.readings] == [("Mice & Keyboards",), ("Stuffed Animals",)]


def test_load_queries_names_the_line_of_an_error(tmp_path: Path) -> None:
    path = tmp_path / "queries.tsv"
    path.write_text("dress\thead\tDresses\t\ndress\thead\tDresses\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"queries.tsv:2: 'dress' is listed twice"):
        load_queries(path)
    path.write_text("cheap dress\tnumeric\tDresses\tprice=30\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"queries.tsv:1: constraint 'price=30'"):
        load_queries(path)

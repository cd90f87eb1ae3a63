"""Mining product lines and category terms from titles, on hand-made documents."""

from pipelines.entity_vocabulary import mine_category_terms, mine_series, title_heads
from quarry.vocabulary import SeriesName


def _doc(title: str, leaf: str, **attributes: str) -> dict[str, object]:
    return {"title": title, "category_lvl3": leaf, "attributes": attributes}


def test_a_series_is_the_recurring_name_after_a_brand() -> None:
    docs = [
        _doc(f"Apple iPhone 15 Pro {gb} phone", "Smartphones", storage=gb) for gb in ("128GB", "256GB")
    ] * 3
    docs += [_doc("Apple slim case", "Phone Cases")] * 6  # lowercase after the brand: no series
    docs += [_doc("LEGO Star Wars building set", "Construction Sets")] * 5
    docs += [_doc("LEGO Odd building set", "Construction Sets")]  # once: no series
    series = mine_series(docs, {"Apple", "LEGO"})
    assert series == {
        "iphone 15 pro": SeriesName("iPhone 15 Pro", "Apple"),
        "star wars": SeriesName("Star Wars", "LEGO"),
    }


def test_title_heads_are_the_product_noun() -> None:
    assert title_heads("Ninja compact blender - black") == {"blender", "compact blender"}
    assert title_heads("Spigen slim case for Apple iPhone 15") == {"case", "slim case"}
    assert title_heads("LEGO City building set 500 pieces") == {"set", "building set"}


def test_a_category_term_is_a_head_noun_of_one_leaf() -> None:
    docs = [_doc("Ninja compact blender - black", "Small Appliances")] * 20
    docs += [_doc("Lodge compact frying pan", "Cookware")] * 20
    docs += [_doc("IKEA coffee table - oak", "Tables")] * 20
    docs += [_doc("Breville coffee maker - silver", "Small Appliances")] * 20
    terms = mine_category_terms(docs, {"ninja", "lodge", "ikea", "breville", "black", "oak", "silver"})
    assert terms["blender"] == "Small Appliances" and terms["coffee table"] == "Tables"
    assert terms["coffee maker"] == "Small Appliances" and terms["frying pan"] == "Cookware"
    assert "compact" not in terms  # in two leaves, and never the head
    assert "coffee" not in terms  # tables and coffee makers alike

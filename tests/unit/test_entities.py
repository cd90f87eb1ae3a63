"""Entity extraction rules on a small hand-made catalog vocabulary: each test is one evidence rule
of quarry/understanding/classify.py, with queries whose right answer a person can tell."""

import msgspec
import pytest

from quarry.understanding.classify import EntityExtractor, classify
from quarry.vocabulary import SeriesName, Vocabulary

VOCABULARY = Vocabulary(
    brands=["Apple", "New Balance", "LEGO", "Levi's", "The North Face", "Giant"],
    categories=[
        "Grocery",
        "Juice",
        "Electronics",
        "Phones",
        "Smartphones",
        "Phone Cases",
        "Sneakers",
        "Men",
        "Shampoo",
        "Coffee & Tea",
        "Lipstick",
    ],
    attributes={
        "color": ["red", "black", "navy", "blue", "stainless steel", "gray"],
        "size": ["10", "9"],
        "material": ["leather", "cotton", "stainless steel"],
    },
    protected=[],
    departments={
        "Apple": ["Electronics"],
        "Juice": ["Grocery"],
        "Smartphones": ["Electronics"],
        "Phones": ["Electronics"],
        "Phone Cases": ["Electronics"],
        "Sneakers": ["Fashion"],
        "Shirts": ["Fashion"],
        "New Balance": ["Fashion"],
        "Levi's": ["Fashion"],
        "LEGO": ["Toys"],
        "Construction Sets": ["Toys"],
        "Bikes": ["Sports"],
        "Giant": ["Sports"],
        "Stuffed Animals": ["Toys"],
        "Drinkware": ["Sports"],
    },
    models=["iphone", "galaxy"],
    series={
        "iphone 15": SeriesName("iPhone 15", "Apple"),
        "iphone 15 pro": SeriesName("iPhone 15 Pro", "Apple"),
        "city": SeriesName("City", "LEGO"),
        "star wars": SeriesName("Star Wars", "LEGO"),
        "gel-kayano 30": SeriesName("Gel-Kayano 30", "New Balance"),
    },
    category_terms={
        "case": "Phone Cases",
        "phone case": "Phone Cases",
        "running shoes": "Sneakers",
        "bike": "Bikes",
        "building set": "Construction Sets",
        "teddy bear": "Stuffed Animals",
        "water bottle": "Drinkware",
        "t-shirt": "Shirts",
        "conditioner": "Shampoo",
        "tea": "Coffee & Tea",
        "lipstick": "Lipstick",
    },
    category_attributes={
        "Drinkware": {"material": ["stainless steel"]},
        "Sneakers": {"color": ["red"], "material": ["mesh"]},
        "Shampoo": {"volume": ["250 ml"]},
        "Coffee & Tea": {"roast": ["dark"]},
        "Lipstick": {"shade": ["ruby"]},
    },
)
COMMON = {"city", "apple", "star"}
TITLE_WORDS = {"slim", "clear", "shoes", "running", "water", "bottle", "insulated"}


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor(VOCABULARY, COMMON.__contains__, TITLE_WORDS)


def test_names_of_every_kind(extractor) -> None:
    entities = extractor.extract(["red", "leather", "new", "balance", "running", "shoes", "size", "10", "xl"])
    assert entities.brand == ("New Balance",) and entities.category == ("Sneakers",)
    assert entities.color == ("red",) and entities.material == ("leather",) and entities.size == ("10", "XL")


def test_brands_as_shoppers_type_them(extractor) -> None:
    assert extractor.extract(["levis", "t-shirt"]).brand == ("Levi's",)
    assert extractor.extract(["north", "face", "tent"]).brand == ("The North Face",)
    assert extractor.extract(["gel", "kayano", "30"]).series == ("Gel-Kayano 30",)


def test_a_brand_outside_the_products_department_is_the_common_word(extractor) -> None:
    assert extractor.extract(["apple", "juice"]).brand == ()
    assert extractor.extract(["giant", "teddy", "bear"]).brand == ()
    assert extractor.extract(["apple", "smartphones"]).brand == ("Apple",)


def test_a_product_term_only_describing_another_product_names_no_category(extractor) -> None:
    assert extractor.extract(["phone", "stand"]).category == ()  # the shop sells no stands
    assert extractor.extract(["phone", "case"]).category == ("Phone Cases",)
    assert extractor.extract(["iphone", "15", "case", "clear"]).category == ("Phone Cases",)


def test_a_product_term_after_a_word_the_shop_never_uses_names_another_product(extractor) -> None:
    assert extractor.extract(["dog", "t-shirt"]).category == ()
    assert extractor.extract(["slim", "case"]).category == ("Phone Cases",)


def test_a_common_word_series_needs_its_brand_or_department(extractor) -> None:
    assert extractor.extract(["city", "bike"]).series == ()
    assert extractor.extract(["lego", "city", "police"]).series == ("City",)
    assert extractor.extract(["city", "building", "set"]).series == ("City",)


def test_a_series_contradicted_by_the_rest_is_dropped(extractor) -> None:
    assert extractor.extract(["star", "wars", "t-shirt"]).series == ()  # the LEGO line is no shirt
    assert extractor.extract(["iphone", "15", "pro", "max"]).series == ()  # a longer, unlisted model
    assert extractor.extract(["iphone", "15", "pro"]).series == ("iPhone 15 Pro",)


def test_colours_of_something_else_are_dropped(extractor) -> None:
    assert extractor.extract(["red", "noise", "machine"]).color == ()
    assert extractor.extract(["running", "shoes", "for", "black", "socks"]).color == ()
    assert extractor.extract(["navy", "blue", "running", "shoes"]).color == ("navy",)


def test_a_value_both_colour_and_material_follows_the_category(extractor) -> None:
    entities = extractor.extract(["stainless", "steel", "water", "bottle"])
    assert entities.material == ("stainless steel",) and entities.color == ()


def test_who_it_is_for_is_no_category(extractor) -> None:
    assert extractor.extract(["men", "running", "shoes"]).category == ("Sneakers",)


@pytest.mark.parametrize(
    ("words", "intent"),
    [
        (["best", "running", "shoes"], "informational"),
        (["cheap", "running", "shoes"], "transactional"),
        (["running", "shoes", "under", "50"], "transactional"),
        (["apple"], "navigational"),
        (["iphone", "15"], "navigational"),
        (["red", "running", "shoes"], "product_search"),
    ],
)
def test_intent(extractor, words, intent) -> None:
    assert classify(words, extractor, extractor.extract(words)) == intent


# The same catalog with its products' title words, which the rules below need.
WITH_TITLES = msgspec.structs.replace(
    VOCABULARY,
    brands=[*VOCABULARY.brands, "Penguin"],
    departments={**VOCABULARY.departments, "Penguin": ["Books"], "Books": ["Books"], "Toys": ["Toys"]},
    category_terms={**VOCABULARY.category_terms, "sheets": "Sheets", "plush": "Stuffed Animals"},
    title_words={
        "Sneakers": ["running", "shoes", "leather", "trail"],
        "Sheets": ["cotton", "sheets", "queen", "percale"],
        "Phone Cases": ["case", "clear", "slim", "iphone"],
        "Books": ["novel", "paperback", "mystery"],
        "Toys": ["plush", "teddy", "bear", "building", "set"],
        "Penguin": ["novel", "paperback"],
        "Apple": ["iphone", "macbook"],
    },
)


@pytest.fixture(scope="module")
def titled() -> EntityExtractor:
    words = TITLE_WORDS | {"cover", "baking", "trail", "plush", "leather", "queen"}
    return EntityExtractor(WITH_TITLES, COMMON.__contains__, words)


def test_a_product_term_next_to_a_word_its_category_never_uses_names_another_product(titled) -> None:
    # "cover" and "baking" are words of this catalog, but not of sneakers' or sheets' titles.
    assert titled.extract(["running", "shoes", "cover"]).category == ()
    assert titled.extract(["baking", "sheets"]).category == ()
    assert titled.extract(["trail", "running", "shoes"]).category == ("Sneakers",)
    assert titled.extract(["queen", "sheets"]).category == ("Sheets",)
    assert titled.extract(["iphone", "case", "clear"]).category == ("Phone Cases",)
    # A number's unit describes the product asked for.
    assert titled.extract(["4", "star", "running", "shoes"]).category == ("Sneakers",)


def test_a_brand_said_of_a_product_only_other_departments_sell_is_dropped(titled) -> None:
    assert titled.extract(["penguin", "plush"]).brand == ()  # the publisher sells no toys
    assert titled.extract(["penguin", "paperback"]).brand == ("Penguin",)
    # A product the catalog never names says nothing against the brand.
    assert titled.extract(["penguin", "bookmark"]).brand == ("Penguin",)
    assert titled.extract(["penguin"]).brand == ("Penguin",)


def test_a_colour_before_a_material_describes_what_follows_both(titled) -> None:
    assert titled.extract(["red", "leather", "cake"]).color == ()
    assert titled.extract(["red", "leather", "running", "shoes"]).color == ("red",)


def test_without_title_words_the_title_rules_stay_off() -> None:
    """An understanding artifact built before title words were recorded keeps the older rules."""
    older = EntityExtractor(VOCABULARY, COMMON.__contains__, TITLE_WORDS | {"cover"})
    assert older.extract(["running", "shoes", "cover"]).category == ("Sneakers",)


def test_shopper_words_name_what_the_synonym_rules_say_they_mean() -> None:
    vocabulary = msgspec.structs.replace(
        VOCABULARY,
        synonyms={"kicks": ["running shoes"], "grey": ["gray"], "cell": ["mobile"], "navy": ["blue"]},
        attributes={**VOCABULARY.attributes, "color": [*VOCABULARY.attributes["color"], "gray"]},
    )
    extractor = EntityExtractor(vocabulary, COMMON.__contains__, TITLE_WORDS)
    assert extractor.extract(["grey", "kicks"]).category == ("Sneakers",)
    assert extractor.extract(["grey", "kicks"]).color == ("gray",)
    assert extractor.extract(["cell"]).category == ()  # its meaning names nothing the shop sells
    assert extractor.extract(["navy", "running", "shoes"]).color == ("navy",)  # a name stays itself


def test_a_colour_or_material_the_named_products_never_have_is_said_of_something_else(extractor) -> None:
    """Shampoo has no material and tea no colour: the leather is what the conditioner is for, and Earl
    Grey a name. Lipsticks have shades, which are their colours; sneakers have materials."""
    assert extractor.extract(["leather", "conditioner"]).material == ()
    assert extractor.extract(["earl", "gray", "tea"]).color == ()
    assert extractor.extract(["red", "lipstick"]).color == ("red",)
    assert extractor.extract(["leather", "sneakers"]).material == ("leather",)
    assert extractor.extract(["leather"]).material == ("leather",)  # no product named: nothing against it


class FitByHand:
    """`CategoryFit` with cosines written by hand for the test."""

    def __init__(self, fits: dict[str, dict[str, float]]) -> None:
        self.fits = fits
        self.asked: list[str] = []

    def fit(self, text: str) -> dict[str, float] | None:
        self.asked.append(text)
        return self.fits.get(text)


def test_an_everyday_word_brand_is_the_word_when_the_query_fits_another_department() -> None:
    fits = FitByHand(
        {
            "apple pie": {"Grocery > Pantry > Snacks": 0.35, "Electronics > Phones > Smartphones": 0.13},
            "apple pencil": {"Grocery > Pantry > Snacks": 0.20, "Electronics > Phones > Smartphones": 0.33},
        }
    )
    extractor = EntityExtractor(VOCABULARY, COMMON.__contains__, TITLE_WORDS, fits)
    assert extractor.extract(["apple", "pie"]).brand == ()
    assert extractor.extract(["apple", "pencil"]).brand == ("Apple",)
    assert extractor.extract(["apple"]).brand == ("Apple",)  # said of no product: not asked
    assert extractor.extract(["levis", "pie"]).brand == ("Levi's",)  # no everyday word: not asked
    assert fits.asked == ["apple pie", "apple pencil"]


def test_without_category_fit_an_everyday_word_brand_stays(extractor) -> None:
    assert extractor.extract(["apple", "pie"]).brand == ("Apple",)

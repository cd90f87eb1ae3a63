import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.understanding.classify import EntityExtractor, classify
from api.understanding.spelling import SpellCorrector
from quarry.vocabulary import Vocabulary

COUNTS = {
    "running": 900,
    "shoes": 800,
    "sofa": 300,
    "bag": 200,
    "bar": 150,
    "bath": 120,
    "blender": 90,
    "mouse": 80,
    "wireless": 70,
    "nike": 500,
    "asics": 50,
    "basics": 400,
}
PROTECTED = {"nike", "asics", "s24"}


@pytest.fixture(scope="module")
def speller() -> SpellCorrector:
    return SpellCorrector(COUNTS, PROTECTED)


def test_a_clear_single_edit_is_corrected_with_full_confidence(speller) -> None:
    correction = speller.correct(["runnig", "shoes"])
    assert (correction.text, correction.confidence) == ("running shoes", 1.0)


def test_ambiguous_short_words_are_low_confidence(speller) -> None:
    correction = speller.correct(["bat"])  # bag 200, bar 150, bath 120: one edit each
    assert correction.text == "bag"
    assert correction.confidence < 0.8


def test_two_edits_are_penalized(speller) -> None:
    text, confidence = speller.correct_token("bxendex")  # blender, two substitutions away
    assert text == "blender" and confidence == pytest.approx(0.85)


def test_known_protected_numeric_and_unknown_tokens_are_kept(speller) -> None:
    assert speller.correct(["asics", "s24", "shoes"]).text is None  # "asics" is never turned into "basics"
    assert speller.correct(["xqzvw"]).text is None
    assert speller.correct(["ab"]).text is None


VOCABULARY = Vocabulary(
    brands=["Apple", "New Balance", "LEGO"],
    categories=["Grocery", "Juice", "Electronics", "Smartphones", "Sneakers"],
    attributes={"color": ["red", "black"], "size": ["10", "9"], "material": ["leather"]},
    protected=[],
    departments={
        "Apple": ["Electronics"],
        "Juice": ["Grocery"],
        "Smartphones": ["Electronics"],
        "Sneakers": ["Fashion"],
        "New Balance": ["Fashion"],
    },
    models=["iphone", "galaxy"],
)


@pytest.mark.parametrize(
    ("words", "intent"),
    [
        (["best", "running", "shoes"], "informational"),
        (["cheap", "sofa"], "transactional"),
        (["sneakers", "under", "50"], "transactional"),
        (["apple"], "navigational"),
        (["iphone", "15"], "navigational"),
        (["red", "sneakers"], "product_search"),
    ],
)
def test_intent(words, intent) -> None:
    extractor = EntityExtractor(VOCABULARY)
    assert classify(words, extractor, extractor.extract(words)) == intent


def test_entities_from_the_catalog_vocabulary() -> None:
    extractor = EntityExtractor(VOCABULARY)
    entities = extractor.extract(["red", "leather", "new", "balance", "sneakers", "size", "10", "xl"])
    assert entities.brand == ("New Balance",) and entities.category == ("Sneakers",)
    assert entities.color == ("red",) and entities.material == ("leather",) and entities.size == ("10", "XL")


def test_apple_juice_is_not_the_brand() -> None:
    extractor = EntityExtractor(VOCABULARY)
    assert extractor.extract(["apple", "juice"]).brand == ()
    assert extractor.extract(["apple", "smartphones"]).brand == ("Apple",)


WORDS = sorted(w for w in COUNTS if w not in PROTECTED)


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
def test_property_known_words_are_never_changed(words) -> None:
    assert SpellCorrector(COUNTS, PROTECTED).correct(words).text is None


@given(
    st.sampled_from([w for w in WORDS if len(w) >= 6]),
    st.integers(min_value=0, max_value=20),
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.sampled_from(["insert", "delete", "replace"]),
)
def test_property_one_typo_gives_a_dictionary_word_and_is_idempotent(word, position, letter, kind) -> None:
    speller = SpellCorrector(COUNTS, PROTECTED)
    i = position % len(word)
    typo = {
        "insert": word[:i] + letter + word[i:],
        "delete": word[:i] + word[i + 1 :],
        "replace": word[:i] + letter + word[i + 1 :],
    }[kind]
    correction = speller.correct([typo])
    result = correction.text or typo
    assert 0.0 <= correction.confidence <= 1.0
    assert result in COUNTS or typo in COUNTS
    assert speller.correct([result]).text is None  # correcting twice changes nothing more

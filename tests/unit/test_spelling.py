import pytest
from hypothesis import given
from hypothesis import strategies as st
from symspellpy import Verbosity

from quarry.understanding.lexicon import Lexicon, word_forms
from quarry.understanding.spelling import SpellCorrector
from quarry.understanding.typing_errors import edit_kind
from quarry.vocabulary import SpellingRules

# A small shop: what the catalog says (field-weighted counts and title word pairs) ...
CATALOG = {
    "running": 900,
    "shoes": 800,
    "sofa": 300,
    "blender": 90,
    "backpack": 120,
    "wireless": 70,
    "mouse": 80,
    "dining": 60,
    "table": 200,
    "coffee": 150,
    "nike": 500,
    "rog": 40,
    "asics": 50,
}
CATALOG_PAIRS = {("running", "shoes"): 150, ("dining", "table"): 50, ("coffee", "table"): 30}
# ... and what English says (corpus counts, as symspellpy ships them).
ENGLISH = {
    "the": 23_000_000_000,
    "with": 3_000_000_000,
    "from": 2_000_000_000,
    "doing": 80_000_000,
    "dining": 32_000_000,
    "table": 100_000_000,
    "wall": 59_000_000,
    "clock": 26_000_000,
    "rug": 6_700_000,
    "room": 90_000_000,
    "tables": 20_000_000,
    "back": 500_000_000,
    "pack": 30_000_000,
    "odour": 2_000_000,
    "wrestling": 5_000_000,
    "coffee": 50_000_000,
    "oil": 60_000_000,
    "filter": 15_000_000,
}
ENGLISH_PAIRS = {("wall", "clock"): 1_000_000, ("dining", "table"): 3_000_000, ("coffee", "table"): 2_000_000}
PROTECTED = {"nike", "asics", "s24"}


def lexicon(queries: dict[str, int] | None = None) -> Lexicon:
    return Lexicon(CATALOG, ENGLISH, queries or {}, CATALOG_PAIRS, ENGLISH_PAIRS)


@pytest.fixture(scope="module")
def speller() -> SpellCorrector:
    return SpellCorrector(lexicon(), PROTECTED)


def test_a_clear_typo_of_a_catalog_word_is_applied(speller) -> None:
    correction = speller.correct(["runnig", "shoes"])
    assert correction.applied == "running shoes" and correction.suggested is None
    decision = correction.decisions[0]
    assert (decision.original, decision.replacement, decision.kind, decision.action) == (
        "runnig",
        "running",
        "edit",
        "applied",
    )
    assert decision.edit_distance == 1 and decision.confidence >= 0.8
    assert decision.original_frequency.catalog == 0 and decision.replacement_frequency.catalog == 900
    assert "runnig" in decision.reason


@pytest.mark.parametrize("words", [["rug"], ["wall", "clock"], ["odor"], ["shoe"], ["tables"]])
def test_real_words_the_catalog_lacks_are_left_alone(speller, words) -> None:
    """ "rug" is one edit from the catalog's "rog"; "odor" is the American "odour"; "shoe" the
    singular of "shoes"."""
    correction = speller.correct(words)
    assert correction.applied is None and correction.suggested is None and not correction.decisions


def test_context_chooses_between_candidates(speller) -> None:
    """ "doing" is the commoner English word, but the catalog and the pair "dining table" say dining."""
    assert speller.correct(["doning", "table"]).applied == "dining table"


def _confidence(speller: SpellCorrector, words: list[str]) -> float:
    (decision,) = speller.correct(words).decisions
    return decision.confidence


def test_an_unknown_word_before_a_product_is_more_likely_a_name(speller) -> None:
    """One edit from "wrestling", which nothing near it supports: in front of a product ("westling
    coffee table") it is likelier a product line than at the end of a query, where the product is."""
    before_a_product = _confidence(speller, ["westling", "coffee", "table"])
    at_the_end = _confidence(speller, ["coffee", "table", "westling"])
    assert before_a_product < at_the_end


def test_a_word_people_write_is_likelier_meant(speller) -> None:
    """The web lexicon's count of the typed word itself is the prior that it was meant."""
    written = SpellCorrector(
        Lexicon(CATALOG, ENGLISH, {}, CATALOG_PAIRS, ENGLISH_PAIRS, web={"westling": 20}), PROTECTED
    )
    assert _confidence(written, ["westling", "coffee", "table"]) < _confidence(
        speller, ["westling", "coffee", "table"]
    )


def test_a_brand_is_never_corrected_into_a_function_word(speller) -> None:
    assert speller.correct(["fram", "oil", "filter"]).applied is None


def test_a_missing_space_is_searched_both_ways_not_rewritten(speller) -> None:
    correction = speller.correct(["roomtables"])
    assert correction.applied is None and correction.expanded == "room tables"
    assert correction.decisions[0].kind == "split" and correction.decisions[0].action == "expanded"


def test_two_words_the_catalog_writes_as_one_are_searched_both_ways(speller) -> None:
    correction = speller.correct(["back", "pack"])
    assert correction.applied is None and correction.expanded == "backpack"
    assert correction.decisions[0].kind == "join"


def test_words_of_successful_queries_are_known() -> None:
    """ "blendr" would be corrected by the lexicon alone; shoppers clicked after typing it twice."""
    assert SpellCorrector(lexicon(), PROTECTED).correct(["blendr"]).applied == "blender"
    assert SpellCorrector(lexicon({"blendr": 2}), PROTECTED).correct(["blendr"]).applied is None


def test_a_word_the_shop_never_uses_is_only_suggested_without_support(speller) -> None:
    """ "wrestling" is English but not the catalog's, and no neighbour supports it: a did_you_mean."""
    correction = speller.correct(["wrestlng"])
    assert correction.applied is None and correction.suggested == "wrestling"


def test_merchandiser_rules_protect_and_force() -> None:
    rules = SpellingRules(protected=("runnig",), corrections={"blendr": "blender", "tshoes": "t shoes"})
    speller = SpellCorrector(lexicon(), PROTECTED, rules)
    assert speller.correct(["runnig", "shoes"]).applied is None
    forced = speller.correct(["wall", "blendr"])
    assert forced.applied == "wall blender" and forced.decisions[0].kind == "forced"


def test_thresholds_decide_between_applied_and_suggested() -> None:
    strict = SpellCorrector(lexicon(), PROTECTED, apply_confidence=1.01, suggest_confidence=0.5)
    correction = strict.correct(["runnig", "shoes"])
    assert correction.applied is None and correction.suggested == "running shoes"


@pytest.mark.parametrize(
    ("typed", "intended", "kind"),
    [
        ("foutains", "fountains", "deletion"),
        ("watter", "water", "doubling"),
        ("balnket", "blanket", "transposition"),
        ("doning", "dining", "adjacent_substitution"),
        ("brendon", "brandon", "vowel_substitution"),
        ("johan", "john", "insertion"),
        ("bakcpack", "blender", None),
    ],
)
def test_kinds_of_typing_errors(typed, intended, kind) -> None:
    assert edit_kind(typed, intended) == kind


def test_word_forms() -> None:
    forms = word_forms("watercolors")
    assert "watercolor" in forms and "watercolours" in forms
    assert "pony" in word_forms("ponies") and "massage" in word_forms("massager")
    assert "slip" not in word_forms("slipers")  # too short a stem: a typo of "slippers"


@pytest.mark.parametrize(
    ("typed", "listed", "rule"),
    [
        ("strawberrys", "strawberry", "a consonant's y becomes ies"),
        ("measureing", "measure", "a silent e drops before a vowel"),
        ("pacifyer", "pacify", "a consonant's y becomes i before -er"),
        ("brushs", "brush", "a hissing ending takes -es"),
        ("boxs", "box", "a hissing ending takes -es"),
        ("watchs", "watch", "a hissing ending takes -es"),
    ],
)
def test_forms_english_spelling_rules_forbid_are_no_words(typed, listed, rule) -> None:
    assert listed not in word_forms(typed), rule
    assert not Lexicon({}, {listed: 1_000_000}, {}, {}, {}).is_known(typed)


def test_allowed_forms_stay_words() -> None:
    assert "toy" in word_forms("toys") and "agree" in word_forms("agreeing")
    assert "pacify" in word_forms("pacifying") and "massage" in word_forms("massager")


@pytest.mark.parametrize(
    ("typed", "stem", "rival"),
    [
        ("controler", "control", "controller"),
        ("shreder", "shred", "shredder"),
        ("projecter", "project", "projector"),
    ],
)
def test_a_derived_form_loses_to_the_spelling_english_lists(typed, stem, rival) -> None:
    assert Lexicon({}, {stem: 1_000_000}, {}, {}, {}).is_known(typed)  # nothing rivals it
    assert not Lexicon({}, {stem: 1_000_000, rival: 50_000}, {}, {}, {}).is_known(typed)


def test_a_function_word_next_to_a_typo_is_no_context() -> None:
    """English prose pairs "done with" often; a shopper's "dorne with camera" names a product."""
    english = {"done": 1_000_000, "drone": 1_000_000, "with": 3_000_000_000}
    pairs = {("done", "with"): 900_000}
    corrector = SpellCorrector(Lexicon({}, english, {}, {}, pairs), set())
    (decision,) = corrector.correct(["dorne", "with", "camera"]).decisions
    assert decision.context == 1.0  # the pair's evidence was not used


def test_a_typo_of_a_word_ending_in_s_is_no_singular(speller) -> None:
    assert not speller.is_known("wireles") and speller.correct(["wireles"]).applied == "wireless"


WORDS = sorted({*CATALOG, *ENGLISH} - PROTECTED)
SPELLER = SpellCorrector(lexicon(), PROTECTED)


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
def test_property_known_words_are_never_rewritten(words) -> None:
    correction = SPELLER.correct(words)
    assert correction.applied is None and correction.suggested is None


@given(
    st.sampled_from([w for w in WORDS if len(w) >= 6 and w.isalpha()]),
    st.integers(min_value=0, max_value=20),
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.sampled_from(["insert", "delete", "replace"]),
)
def test_property_one_typo_gives_a_dictionary_word_and_is_idempotent(word, position, letter, kind) -> None:
    speller = SPELLER
    i = position % len(word)
    typo = {
        "insert": word[:i] + letter + word[i:],
        "delete": word[:i] + word[i + 1 :],
        "replace": word[:i] + letter + word[i + 1 :],
    }[kind]
    correction = speller.correct([typo])
    assert 0.0 <= correction.confidence <= 1.0
    if correction.applied is not None:
        assert all(speller.is_known(w) for w in correction.applied.split())  # into words, never typos
        assert speller.correct(correction.applied.split()).applied is None  # twice changes nothing more
    if speller.is_known(typo):
        assert correction.applied is None  # a typo that is a word is a word


class CosinesByHand:
    """`Relatedness` with cosines written by hand for the test: how well each text fits a context."""

    def __init__(self, cosines: dict[tuple[str, str], float]) -> None:
        self.cosines = cosines
        self.asked: list[tuple[tuple[str, ...], str]] = []

    def similarities(self, texts, context: str) -> list[float]:
        self.asked.append((tuple(texts), context))
        return [self.cosines.get((text, context), 0.1) for text in texts]


# Pair counts know none of these phrases; by frequency alone "case" beats "cage".
PET_ENGLISH = {"hamster": 1_000_000, "case": 120_000_000, "cage": 6_000_000, "care": 110_000_000}


def _pet_speller(relatedness: CosinesByHand | None) -> SpellCorrector:
    return SpellCorrector(Lexicon({}, PET_ENGLISH, {}, {}, {}), set(), relatedness=relatedness)


def test_meaning_chooses_the_reading_that_fits_the_other_words() -> None:
    without = _pet_speller(None).correct(["hamster", "cahe"]).decisions[0]
    assert without.replacement != "cage" and without.meaning is None
    fits = CosinesByHand({("cage", "hamster"): 0.55, ("case", "hamster"): 0.21, ("cahe", "hamster"): 0.17})
    decision = _pet_speller(fits).correct(["hamster", "cahe"]).decisions[0]
    assert decision.replacement == "cage" and decision.action in ("applied", "suggested")
    assert decision.meaning is not None
    assert (decision.meaning.context, decision.meaning.replacement, decision.meaning.typed) == (
        "hamster",
        0.55,
        0.17,
    )
    assert "hamster" in decision.reason


def test_a_word_that_fits_as_typed_loses_nothing_to_its_readings() -> None:
    """A name keeps its meaning ("cahe" as a brand of hamster bedding): readings that fit worse weigh less."""
    plain = _pet_speller(None).correct(["hamster", "cahe"]).decisions[0].confidence
    name = CosinesByHand({("cahe", "hamster"): 0.6, ("case", "hamster"): 0.2, ("care", "hamster"): 0.2})
    decisions = _pet_speller(name).correct(["hamster", "cahe"]).decisions
    assert not decisions or decisions[0].confidence < plain


def test_meaning_is_asked_only_with_other_words_to_fit() -> None:
    fits = CosinesByHand({})
    _pet_speller(fits).correct(["cahe"])
    _pet_speller(fits).correct(["cahe", "for", "the"])  # function words are no context
    assert fits.asked == []
    _pet_speller(fits).correct(["hamster", "cahe"])
    ((texts, context),) = fits.asked
    assert context == "hamster" and texts[0] == "cahe" and "case" in texts


def test_correctors_over_the_same_words_share_one_index_and_others_do_not() -> None:
    """Apps that load one artifact in a process (the tests' apps, in-process tools) build SymSpell's
    deletes once; a lexicon with other words must not see them, and weights stay each lexicon's."""
    first, second = SpellCorrector(lexicon(), PROTECTED), SpellCorrector(lexicon(), PROTECTED)
    assert first._symspell is second._symspell and first._lock is second._lock
    other = SpellCorrector(lexicon({"zephyrine": 50}), PROTECTED)
    assert other._symspell is not first._symspell
    assert "zephyrine" in {s.term for s in other._symspell.lookup("zephyrne", Verbosity.ALL, 2)}
    assert "zephyrine" not in {s.term for s in first._symspell.lookup("zephyrne", Verbosity.ALL, 2)}

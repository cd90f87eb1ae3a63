"""Match quality from its signals, with hand-made shop vocabularies."""

import pytest

from quarry.search.match_quality import MatchSignals, MatchThresholds, head_word, quality, signals

SHOP = {"running", "shoes", "tea", "chair", "camping", "coffee", "tumbler"}
THRESHOLDS = MatchThresholds(good_similarity=0.6, partial_similarity=0.45)


def judge(query: str, keyword_match: str, similarity: float | None, results: int = 10) -> str:
    found = signals(query.split(), SHOP.__contains__, keyword_match, similarity)
    return quality(found, results, THRESHOLDS)


@pytest.mark.parametrize(
    ("query", "head"),
    [
        ("tea kettle", "kettle"),
        ("cheap running shoes for men", "shoes"),
        ("keep my coffee hot on the commute", "hot"),
        ("best", None),
    ],
)
def test_the_head_is_the_product_named(query, head) -> None:
    assert head_word(query.split()) == head


def test_every_word_known_and_matched_is_good() -> None:
    assert judge("cheap running shoes", "strict", 0.3) == "good"


def test_a_head_the_shop_does_not_know_is_no_match() -> None:
    assert judge("tea kettle", "relaxed", 0.30) == "none"  # tea is sold, kettles are not
    assert judge("lawn mower", "none", 0.30) == "none"


def test_a_known_head_with_an_unknown_word_is_partial() -> None:
    assert judge("office chair", "relaxed", 0.30) == "partial"


def test_meaning_alone_can_make_a_match() -> None:
    assert judge("keep my coffee hot on the commute", "relaxed", 0.62) == "good"
    assert judge("keep my coffee hot on the commute", "relaxed", 0.50) == "partial"
    assert judge("keep my coffee hot on the commute", "relaxed", 0.40) == "none"


def test_no_results_is_none_whatever_the_words() -> None:
    assert judge("running shoes", "strict", 0.9, results=0) == "none"


def test_signals_count_content_words_only() -> None:
    found = signals(["cheap", "running", "shoes", "under", "30"], SHOP.__contains__, "strict", None)
    assert found == MatchSignals(
        content_words=2, known_words=2, head_known=True, keyword_match="strict", best_similarity=None
    )

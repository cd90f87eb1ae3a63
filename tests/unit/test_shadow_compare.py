"""Shadow against champion: overlap, rank correlation and score drift, worked out by hand."""

from __future__ import annotations

import pytest

from quarry.shadow import compare


def test_the_same_answer_agrees_fully() -> None:
    ranking = [("a", 0.9), ("b", 0.8), ("c", 0.5)]
    result = compare(ranking, ranking)
    assert (result.overlap_at_10, result.rank_correlation, result.score_drift, result.common) == (
        1.0,
        1.0,
        0.0,
        3,
    )


def test_a_reversed_order_of_the_same_items_correlates_negatively() -> None:
    result = compare([("a", 3.0), ("b", 2.0), ("c", 1.0)], [("c", 3.0), ("b", 2.0), ("a", 1.0)])
    assert result.overlap_at_10 == 1.0 and result.rank_correlation == pytest.approx(-1.0)
    assert result.score_drift == pytest.approx((2 + 0 + 2) / 3)


def test_overlap_counts_the_champions_top_ten_found_in_the_shadows() -> None:
    champion = [(f"i{n}", 1.0) for n in range(10)]
    shadow = [(f"i{n}", 1.0) for n in range(7)] + [("x", 1.0), ("y", 1.0), ("z", 1.0), ("i7", 1.0)]
    assert compare(champion, shadow).overlap_at_10 == pytest.approx(0.7)  # i7 is 11th there


def test_nothing_in_common_has_no_correlation_or_drift() -> None:
    result = compare([("a", 1.0), ("b", 0.5)], [("c", 1.0)])
    assert (result.overlap_at_10, result.rank_correlation, result.score_drift, result.common) == (
        0.0,
        None,
        None,
        0,
    )


def test_one_item_in_common_has_drift_but_no_order() -> None:
    result = compare([("a", 1.0), ("b", 0.5)], [("b", 0.25)])
    assert result.rank_correlation is None and result.score_drift == pytest.approx(0.25)

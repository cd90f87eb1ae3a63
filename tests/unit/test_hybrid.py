"""Fusion of keyword and semantic candidates (quarry/search/fusion.py). Expected values are worked out
by hand from the definitions in docs/ranking.md#hybrid-relevance."""

import pytest

from quarry.adapters.search_engine import Hit
from quarry.search.fusion import fuse, keyword_only


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(id=pid, score=score, source={}) for pid, score in pairs]


KEYWORD = hits(("a", 10.0), ("b", 6.0), ("c", 2.0))  # min-max: a=1, b=0.5, c=0
SEMANTIC = hits(("d", 0.9), ("a", 0.8))
SIMILARITY = {"a": 0.6, "b": 0.2, "c": -0.1, "d": 0.7}  # exact cosine, c below zero


def by_id(method: str, **kwargs: float) -> dict[str, tuple[float | None, float | None, float]]:
    fused = fuse(KEYWORD, SEMANTIC, SIMILARITY, method, **kwargs)  # type: ignore[arg-type]
    return {c.hit.id: (c.relevance.keyword, c.relevance.semantic, c.relevance.fused) for c in fused}


def test_candidates_are_the_union_in_keyword_then_semantic_order() -> None:
    assert [c.hit.id for c in fuse(KEYWORD, SEMANTIC, SIMILARITY, "max")] == ["a", "b", "c", "d"]


def test_a_semantic_only_product_has_no_keyword_score_rather_than_zero() -> None:
    scores = by_id("max")
    assert scores["d"] == (None, 0.7, 0.7)  # its fused score is its own similarity, not max(0, ...)
    assert scores["c"] == (0.0, 0.0, 0.0)  # negative cosine is clipped to 0
    assert scores["a"] == (1.0, 0.6, 1.0) and scores["b"] == (0.5, 0.2, 0.5)


def test_weighted_fusion_is_a_convex_combination() -> None:
    scores = by_id("weighted", keyword_weight=0.25)
    assert scores["a"][2] == pytest.approx(0.25 * 1.0 + 0.75 * 0.6)
    assert scores["b"][2] == pytest.approx(0.25 * 0.5 + 0.75 * 0.2)
    assert scores["d"][2] == pytest.approx(0.75 * 0.7)  # below the keyword window: keyword term 0


def test_rrf_sums_reciprocal_ranks_over_the_lists_a_product_is_in() -> None:
    k = 60
    scores = by_id("rrf", rrf_k=k)
    best = 2 / (k + 1)
    # Semantic ranks over the window by exact similarity: d (0.7), a (0.6), b (0.2), c (0).
    assert scores["a"][2] == pytest.approx((1 / (k + 1) + 1 / (k + 2)) / best)
    assert scores["d"][2] == pytest.approx((1 / (k + 1)) / best)  # not a keyword candidate: one term
    assert scores["c"][2] == pytest.approx((1 / (k + 3) + 1 / (k + 4)) / best)


def test_keyword_only_relevance_is_the_normalized_keyword_score() -> None:
    relevance = [c.relevance for c in keyword_only(KEYWORD)]
    assert [(r.keyword, r.semantic, r.fused) for r in relevance] == [
        (1.0, None, 1.0),
        (0.5, None, 0.5),
        (0.0, None, 0.0),
    ]
    assert keyword_only(hits(("solo", 3.0)))[0].relevance.fused == 1.0

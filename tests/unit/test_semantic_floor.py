"""make semantic-floor: the shares each floor gives, worked by hand, and the nonsense list's format."""

from __future__ import annotations

from pathlib import Path

from pipelines.semantic_floor import QuerySimilarity, floor_rows, load_nonsense

QUERIES = [
    QuerySimilarity("running shoes", "head", 0.70),
    QuerySimilarity("sofa", "head", 0.30),  # exactly on the 0.3 floor: kept (>=)
    QuerySimilarity("stretch and relax after work", "conceptual", 0.25),
    QuerySimilarity("pedal to the office", "conceptual", 0.35),
    QuerySimilarity("asdf", "nonsense", 0.37),
    QuerySimilarity("how to file taxes", "nonsense", 0.16),
]


def test_shares_at_each_floor() -> None:
    low, middle, high = floor_rows(QUERIES, floors=(0.2, 0.3, 0.4))
    # 0.2: every golden query keeps candidates; of the nonsense, only asdf (0.37) clears it
    assert (low.golden_without_candidates, low.conceptual_without_candidates, low.nonsense_admitted) == (
        0.0,
        0.0,
        0.5,
    )
    # 0.3: only the 0.25 conceptual query loses them (1 of 4 golden, 1 of 2 conceptual); asdf clears
    assert (middle.golden_without_candidates, middle.conceptual_without_candidates) == (0.25, 0.5)
    assert middle.nonsense_admitted == 0.5
    # 0.4: sofa, both conceptual lose them (3 of 4); no nonsense clears it
    assert (high.golden_without_candidates, high.conceptual_without_candidates, high.nonsense_admitted) == (
        0.75,
        1.0,
        0.0,
    )


def test_no_queries_of_a_kind_gives_zero_not_an_error() -> None:
    (row,) = floor_rows([QuerySimilarity("asdf", "nonsense", 0.37)], floors=(0.3,))
    assert (row.golden_without_candidates, row.conceptual_without_candidates, row.nonsense_admitted) == (
        0.0,
        0.0,
        1.0,
    )


def test_the_nonsense_list_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "nonsense.txt"
    path.write_text("# a comment\n\nasdf\n  zzzz  \n", encoding="utf-8")
    assert load_nonsense(path) == ["asdf", "zzzz"]


def test_the_committed_nonsense_list_is_usable() -> None:
    queries = load_nonsense()
    assert len(queries) >= 30 and len(set(queries)) == len(queries)

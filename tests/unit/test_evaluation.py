"""make eval's averages, worked by hand: queries with nothing relevant are counted, never averaged."""

from __future__ import annotations

import math

from pipelines.evaluation import SearchFunction, evaluate, has_relevant, markdown
from pipelines.golden import GoldenQuery, _reading

QUERIES = [
    GoldenQuery("sofa", "head", (_reading("Sofas", ""),)),
    GoldenQuery("couch", "synonym", (_reading("Sofas", ""),)),
    GoldenQuery("lawn mower", "absent", (_reading("-", ""),)),
    GoldenQuery("wall clock", "absent", (_reading("-", ""),)),
]
# BM25 found nothing for "wall clock": an absent query may have no judged pair at all.
JUDGMENTS = {"sofa": {"A": 4, "B": 0}, "couch": {"A": 4, "B": 0}, "lawn mower": {"B": 0}}


def system(answers: dict[str, list[str]]) -> SearchFunction:
    return lambda q: (answers[q], len(answers[q]))


SYSTEMS = {
    # right on every query: the sofa first, nothing for the absent ones
    "good": system({"sofa": ["A", "B"], "couch": ["A"], "lawn mower": [], "wall clock": []}),
    # the sofa second, nothing for couch, unrelated products for the absent ones
    "poor": system({"sofa": ["B", "A"], "couch": [], "lawn mower": ["B"], "wall clock": ["A"]}),
}


def test_has_relevant() -> None:
    assert has_relevant({"A": 1}) and not has_relevant({"A": 0}) and not has_relevant({})


def test_queries_with_nothing_relevant_are_left_out_of_the_averages() -> None:
    report = evaluate(SYSTEMS, {}, queries=QUERIES, judgments=JUDGMENTS)
    good, poor = report.systems["good"], report.systems["poor"]
    assert report.queries == 4 and report.queries_without_relevant == 2 and report.judged_pairs == 5
    # Averages over sofa and couch only: the absent queries would be NDCG 0 for everyone.
    assert (good.ndcg_at_10, good.mrr, good.zero_result_rate, good.queries) == (1.0, 1.0, 0.0, 2)
    # poor: sofa has A at rank 2, NDCG = (15 / log2(3)) / 15, RR 1/2; couch answered with nothing: 0, 0.
    assert poor.ndcg_at_10 == round((1 / math.log2(3) + 0) / 2, 4)
    assert (poor.mrr, poor.zero_result_rate, poor.queries) == (0.25, 0.5, 2)
    # The absent queries: counted, and the empty answer is the right one.
    assert (good.nothing_relevant, good.nothing_relevant_zero_result_rate) == (2, 1.0)
    assert (poor.nothing_relevant, poor.nothing_relevant_zero_result_rate) == (2, 0.0)


def test_every_kind_is_listed_with_its_count() -> None:
    report = evaluate(SYSTEMS, {}, queries=QUERIES, judgments=JUDGMENTS)
    assert list(report.by_kind) == ["absent", "head", "synonym"]
    absent = report.by_kind["absent"]["good"]
    assert (absent.ndcg_at_10, absent.mrr, absent.zero_result_rate) == (None, None, None)
    assert (absent.queries, absent.nothing_relevant) == (0, 2)
    assert report.by_kind["synonym"]["poor"].ndcg_at_10 == 0.0
    assert report.per_query["lawn mower"] == {"good": None, "poor": None}
    assert report.per_query["sofa"] == {"good": 1.0, "poor": round(1 / math.log2(3), 4)}


def test_markdown_keeps_its_tables_and_adds_the_nothing_relevant_one() -> None:
    text = markdown(evaluate(SYSTEMS, {"commit": "abc"}, queries=QUERIES, judgments=JUDGMENTS))
    assert "| good | 1.0000 | 1.0000 | 0.00% |" in text
    assert "| absent | 2 | – | – |" in text
    assert "| head | 1 | 1.0000 | 0.6309 |" in text
    assert "| good | 2 | 100.00% |" in text and "| poor | 2 | 0.00% |" in text


def test_markdown_without_absent_queries_has_no_extra_table() -> None:
    text = markdown(evaluate(SYSTEMS, {}, queries=QUERIES[:2], judgments=JUDGMENTS))
    assert "nothing relevant in the catalog" not in text

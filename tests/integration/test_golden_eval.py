"""The relevance gate: the full pipeline must keep NDCG@10 >= 0.65 on the golden set and beat raw BM25."""

from __future__ import annotations

from pipelines import evaluation
from pipelines.cli import pipeline_search
from pipelines.golden import load_judgments, load_queries

NDCG_FLOOR = 0.65


def test_golden_set_is_large_enough() -> None:
    queries = load_queries()
    judgments = load_judgments()
    assert len(queries) >= 150
    assert sum(len(v) for v in judgments.values()) >= 1000
    assert {q.query for q in queries} == set(judgments)
    kinds = {q.kind for q in queries}
    assert {"head", "tail", "misspelling", "synonym", "navigational", "attribute", "ambiguous"} <= kinds
    assert {g for graded in judgments.values() for g in graded.values()} == {0, 1, 2, 3, 4}


def test_pipeline_beats_the_floor_and_raw_bm25(engine, demo_catalog) -> None:
    with pipeline_search(demo_catalog) as pipeline:
        report = evaluation.evaluate(
            {
                "raw_bm25": evaluation.raw_bm25(engine, demo_catalog.products_alias),
                "pipeline": pipeline(None),
            },
            {},
        )
    pipeline_scores, raw = report.systems["pipeline"], report.systems["raw_bm25"]
    assert pipeline_scores.ndcg_at_10 >= NDCG_FLOOR
    assert pipeline_scores.ndcg_at_10 >= raw.ndcg_at_10
    assert pipeline_scores.zero_result_rate <= raw.zero_result_rate

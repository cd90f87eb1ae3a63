"""The relevance gate: the full pipeline must keep NDCG@10 >= 0.65 on the golden set and beat raw BM25.
Also the golden set's own structure: its kinds, their sizes, and what each kind promises."""

from __future__ import annotations

from collections import Counter

from pipelines import evaluation
from pipelines.catalog.generator import ATTRIBUTE_ALIASES
from pipelines.catalog.vocabulary import PRODUCT_TYPES
from pipelines.cli import pipeline_search
from pipelines.golden import ANY_LEAF, IDENTITY_KEYS, NUMERIC_KEYS, UNIT_KEYS, load_judgments, load_queries

NDCG_FLOOR = 0.65
KINDS_OF_25 = ("typo", "split-join", "synonym", "conceptual", "numeric", "ambiguous", "accessory", "absent")
# The attribute keys each leaf's products carry, as the generator names them.
LEAF_ATTRIBUTES = {
    pt.path[-1]: {ATTRIBUTE_ALIASES.get(key, key) for key in pt.attributes} for pt in PRODUCT_TYPES
}


def test_golden_set_is_large_enough() -> None:
    queries = load_queries()
    judgments = load_judgments()
    assert len(queries) >= 150
    assert sum(len(v) for v in judgments.values()) >= 1000
    # BM25 finds nothing at all for some absent queries, so they have no judged pair: every other
    # query has some.
    assert set(judgments) <= {q.query for q in queries}
    assert {q.query for q in queries if q.query not in judgments} <= {
        q.query for q in queries if q.kind == "absent"
    }
    kinds = Counter(q.kind for q in queries)
    assert {"head", "tail", "synonym", "navigational", "attribute", "ambiguous"} <= set(kinds)
    assert "misspelling" not in kinds  # renamed to typo
    assert all(kinds[kind] >= 25 for kind in KINDS_OF_25), kinds
    assert {g for graded in judgments.values() for g in graded.values()} == {0, 1, 2, 3, 4}


def test_every_leaf_and_attribute_a_query_names_exists_in_the_catalog() -> None:
    for query in load_queries():
        for reading in query.readings:
            named = [leaf for leaf in reading.leaves if leaf != ANY_LEAF]
            assert set(named) <= set(LEAF_ATTRIBUTES), (query.query, named)
            carried = set().union(*(LEAF_ATTRIBUTES[leaf] for leaf in named)) if named else None
            for constraint in reading.constraints:
                if constraint.key in IDENTITY_KEYS or constraint.key in NUMERIC_KEYS or carried is None:
                    continue
                assert constraint.key in carried, (query.query, constraint.key, named)


def test_only_absent_queries_have_nothing_relevant_and_they_grade_zero_everywhere() -> None:
    """make eval leaves queries without a grade >= 1 out of its averages: that must be exactly the
    absent kind, so no other query drops out silently."""
    judgments = load_judgments()
    queries = load_queries()
    without_relevant = {q.query for q in queries if not evaluation.has_relevant(judgments.get(q.query, {}))}
    absent = [q for q in queries if q.kind == "absent"]
    assert without_relevant == {q.query for q in absent}
    for query in absent:
        assert [r.leaves for r in query.readings] == [()], query.query  # the '-' leaf column
        assert set(judgments.get(query.query, {}).values()) <= {0}, query.query


def test_every_numeric_query_has_a_numeric_or_unit_constraint() -> None:
    for query in load_queries():
        if query.kind == "numeric":
            keys = {c.key for r in query.readings for c in r.constraints}
            assert keys & (set(NUMERIC_KEYS) | UNIT_KEYS), query.query


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
    assert pipeline_scores.ndcg_at_10 is not None and raw.ndcg_at_10 is not None
    assert pipeline_scores.ndcg_at_10 >= NDCG_FLOOR
    assert pipeline_scores.ndcg_at_10 >= raw.ndcg_at_10
    assert pipeline_scores.zero_result_rate is not None and raw.zero_result_rate is not None
    assert pipeline_scores.zero_result_rate <= raw.zero_result_rate
    assert set(report.by_kind) == {q.kind for q in load_queries()}

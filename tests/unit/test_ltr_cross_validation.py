"""Cross-validation of the learned ranker against the formula and the Phase-2 weights, on groups
whose relevance follows known features: both tuned rankers beat a formula order that ignores them,
every query is scored once, by a fold that did not train on it."""

from __future__ import annotations

import random

import pytest

from pipelines.ltr.dataset import Group
from pipelines.ltr.train import ROUND_CHOICES, SEED, cross_validate, folds_of, ndcg_at, seed_spread
from quarry.ltr.featureset import load_featureset


def groups(queries: int, seed: int) -> list[Group]:
    names = load_featureset().names
    title, rating = names.index("title_bm25"), names.index("rating")
    rng = random.Random(seed)
    made = []
    for q in range(queries):
        rows, labels, departments = [], [], []
        for _ in range(25):
            row = [rng.random() for _ in names]
            row[rating] *= 5
            rows.append(row)
            labels.append(min(4, int(3 * row[title] + 0.3 * row[rating] / 5 + rng.random() * 0.5)))
            departments.append(rng.choice(["Books", "Electronics"]))
        made.append(
            Group(f"query {q}", "golden", [f"p{q}-{i}" for i in range(25)], rows, labels, departments)
        )
    return made


def test_tuned_rankers_beat_an_order_that_ignores_relevance_and_each_query_is_scored_out_of_fold() -> None:
    data = groups(60, seed=5)
    cv = cross_validate(data, load_featureset().names)
    assert set(cv.per_query) == {g.query for g in data}
    assert cv.ltr_ndcg_at_10 > cv.formula_ndcg_at_10 + 0.1
    assert cv.phase2_ndcg_at_10 > cv.formula_ndcg_at_10 + 0.1
    assert len(cv.folds) == 5 and cv.rounds in ROUND_CHOICES


def test_folds_split_by_query_and_ndcg_is_the_usual_one() -> None:
    data = groups(20, seed=1)
    twice = data + [Group(g.query, "clicks", g.products, g.features, g.labels) for g in data[:5]]
    assignment = folds_of(twice)
    fold_of = {}
    for group, fold in zip(twice, assignment, strict=True):
        assert fold_of.setdefault(group.query, fold) == fold  # a query never spans two folds
    assert ndcg_at([3, 2, 1, 0]) == 1.0
    assert 0.0 < ndcg_at([0, 1, 2, 3]) < 1.0
    assert ndcg_at([0, 0]) == 0.0


def test_the_seed_spread_redraws_the_folds_and_agrees_with_one_cross_validation() -> None:
    data = groups(40, seed=3)
    names = load_featureset().names
    cv = cross_validate(data, names)
    spread = seed_spread(data, names, cv.rounds, seeds=(SEED, SEED + 1, SEED + 2))
    # The first seed is the cross-validation's own split, at its rounds: the same gain.
    assert spread.gains[0] == pytest.approx(cv.ltr_ndcg_at_10 - cv.formula_ndcg_at_10, abs=2e-4)
    assert all(gain > 0.1 for gain in spread.gains)  # relevance follows the features on every split
    assert len(set(spread.gains)) > 1 and spread.sd > 0  # other seeds, other folds
    assert min(spread.gains) <= spread.mean <= max(spread.gains)
    assert folds_of(data, seed=SEED) != folds_of(data, seed=SEED + 1)

"""The learned ranker on data whose relevance is known: it learns the ordering, and its JSON tree
dump (what the plugin's `model/xgboost+json` takes) scores exactly as the booster does."""

from __future__ import annotations

import random

import pytest

from quarry.ltr.ranker import LtrRanker, TrainingSet, TreeEnsemble

NAMES = ["text", "popularity", "noise"]


def synthetic(queries: int, seed: int) -> TrainingSet:
    """Relevance follows text strongly and popularity a little; `noise` means nothing."""
    rng = random.Random(seed)
    features, labels, groups, names, products = [], [], [], [], []
    for q in range(queries):
        rows = 30
        for d in range(rows):
            text, pop, noise = rng.random(), rng.random(), rng.random()
            grade = min(4, int(4 * (0.8 * text + 0.2 * pop) + rng.random() * 0.3))
            features.append([text, pop, noise])
            labels.append(grade)
            products.append(f"q{q}-d{d}")
        groups.append(rows)
        names.append(f"query {q}")
    return TrainingSet(NAMES, names, groups, features, labels, [1.0] * queries, products)


def ndcg10(scores: list[float], labels: list[int]) -> float:
    import math

    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:10]
    dcg = sum((2 ** labels[i] - 1) / math.log2(r + 2) for r, i in enumerate(order))
    ideal = sum((2**g - 1) / math.log2(r + 2) for r, g in enumerate(sorted(labels, reverse=True)[:10]))
    return dcg / ideal if ideal else 0.0


def mean_ndcg(data: TrainingSet, scores: list[float]) -> float:
    start, values = 0, []
    for size in data.groups:
        values.append(ndcg10(scores[start : start + size], data.labels[start : start + size]))
        start += size
    return sum(values) / len(values)


def test_the_ranker_learns_the_relevant_feature_and_beats_a_noise_ranking() -> None:
    train, held_out = synthetic(60, seed=1), synthetic(20, seed=2)
    ranker = LtrRanker(rounds=60)
    ranker.fit(train)
    learned = mean_ndcg(held_out, ranker.score(held_out.features))
    by_noise = mean_ndcg(held_out, [row[2] for row in held_out.features])
    assert learned > 0.9 > by_noise + 0.2
    contributions = ranker.contributions(held_out.features[:50])
    mean_abs = {n: sum(abs(c[n]) for c in contributions) / 50 for n in NAMES}
    assert mean_abs["text"] > mean_abs["popularity"] > mean_abs["noise"] * 0.5
    for row, parts in zip(held_out.features[:50], contributions, strict=True):
        assert sum(parts.values()) == pytest.approx(ranker.score([row])[0], abs=1e-4)


def test_the_json_dump_scores_as_the_booster_and_survives_save_and_load() -> None:
    train = synthetic(40, seed=3)
    ranker = LtrRanker(rounds=60)
    ranker.fit(train)
    vectors = synthetic(34, seed=4).features[:1000]
    reader = TreeEnsemble(ranker.dump(), NAMES)
    booster_scores = ranker.score(vectors)
    assert [reader.score(v) for v in vectors] == pytest.approx(booster_scores, abs=1e-5)
    loaded = LtrRanker.load(ranker.save())
    assert loaded.score(vectors) == pytest.approx(booster_scores, abs=1e-6)
    assert loaded.metadata()["features"] == NAMES


def test_scoring_with_fewer_rounds_is_the_model_of_that_many_trees() -> None:
    """Cross-validation scores one model at several sizes: its first k trees must score as a model
    trained for k rounds would (the same trees: boosting adds them in order)."""
    train = synthetic(30, seed=5)
    vectors = synthetic(5, seed=6).features
    full = LtrRanker(rounds=40)
    full.fit(train)
    shorter = LtrRanker(rounds=10)
    shorter.fit(train)
    assert full.score(vectors, 10) == pytest.approx(shorter.score(vectors), abs=1e-5)
    assert full.score(vectors) != pytest.approx(shorter.score(vectors), abs=1e-5)

import numpy as np
import pytest

from pipelines.recommend.train import Interaction, evaluate_model, time_split, to_matrix
from quarry.recommenders import ALSRecommender, Interactions, PopularityRecommender


def rows(*triples):
    return [Interaction(u, i, a, f"2026-11-{n + 1:02d}T00:00:00Z") for n, (u, i, a) in enumerate(triples)]


def test_confidence_sums_action_weights() -> None:
    data = to_matrix(rows(("u", "a", "click"), ("u", "a", "purchase"), ("v", "b", "view")))
    assert data.matrix[data.user_index["u"], data.item_index["a"]] == pytest.approx(12.0)
    assert data.items_of("u") == {"a"} and data.items_of("nobody") == set()


def test_time_split_keeps_new_items_of_known_users_as_targets() -> None:
    history = rows(
        *[("u", f"i{n}", "click") for n in range(8)],
        ("u", "i0", "click"),
        ("u", "new", "purchase"),
        ("stranger", "x", "click"),
    )
    train, targets = time_split(history)
    assert len(train) == 8
    assert targets == {"u": {"new"}}  # i0 was seen in training; the stranger is unknown


def test_popularity_ranks_by_total_confidence_and_excludes() -> None:
    model = PopularityRecommender()
    model.fit(Interactions([("u", "a", 1.0), ("v", "a", 2.0), ("v", "b", 10.0), ("w", "c", 0.5)]))
    assert [i for i, _ in model.recommend("anyone", 2, exclude=set())] == ["b", "a"]
    assert [i for i, _ in model.recommend("anyone", 2, exclude={"b"})] == ["a", "c"]


def test_metrics_on_a_hand_checked_case() -> None:
    class Fixed:
        def recommend(self, user, k, exclude):
            return [(f"r{n}", 1.0) for n in range(10)]

    data = Interactions([("u", "r0", 1.0), ("u", "r5", 1.0), ("v", "zz", 1.0)])
    scores = evaluate_model(Fixed(), data, {"u": {"r0", "r2", "missing"}})
    assert scores.precision_at_10 == pytest.approx(0.2)
    assert scores.recall_at_10 == pytest.approx(2 / 3, abs=1e-4)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert scores.ndcg_at_10 == pytest.approx((1 + 1 / np.log2(4)) / ideal, abs=1e-4)
    assert scores.coverage == pytest.approx(10 / 3, abs=1e-4)  # recommended ids outside the trained items


def test_als_learns_two_taste_groups_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    triples = []
    for user in range(40):
        group = "toy" if user < 20 else "book"
        for item in rng.choice(15, size=6, replace=False):
            triples.append((f"u{user}", f"{group}{item}", 3.0))
    data = Interactions(triples)
    model = ALSRecommender(factors=8, iterations=15, regularization=0.01, seed=1)
    model.fit(data)
    for user, group in (("u1", "toy"), ("u30", "book")):
        recommended = [i for i, _ in model.recommend(user, 5, exclude=data.items_of(user))]
        assert sum(i.startswith(group) for i in recommended) >= 4  # the taste group dominates
    loaded = ALSRecommender.load(model.save(), model.params)
    assert loaded.recommend("u1", 5, set()) == model.recommend("u1", 5, set())
    assert model.metadata()["library_versions"]["implicit"]

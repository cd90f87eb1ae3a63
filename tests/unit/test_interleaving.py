"""Team-draft interleaving: what a shopper sees is fair to both rankers, clicks are credited to the
team that placed the result, and simulated shoppers reveal the better ranker while an A/A
comparison stays at the false-positive rate."""

from __future__ import annotations

import random

import numpy as np

from quarry.experiments.interleaving import A, B, Interleaved, preference, team_draft, winner

RANKING_A = ["p1", "p2", "p3", "p4", "p5", "p6"]
RANKING_B = ["p4", "p1", "p7", "p8", "p2", "p9"]


def test_each_team_places_its_own_results_in_its_own_order_and_stays_balanced() -> None:
    for seed in range(50):
        merged = team_draft(RANKING_A, RANKING_B, 8, seed=f"q{seed}")
        assert len(merged.items) == 8 and len(set(merged.items)) == 8
        for team, ranking in ((A, RANKING_A), (B, RANKING_B)):
            placed = [item for item, t in zip(merged.items, merged.teams, strict=True) if t == team]
            assert placed == sorted(placed, key=ranking.index)  # in the team's own order
        for end in range(1, 9):
            prefix = merged.teams[:end]
            assert abs(prefix.count(A) - prefix.count(B)) <= 1  # picks alternate fairly
    assert team_draft(RANKING_A, RANKING_B, 8, "same") == team_draft(RANKING_A, RANKING_B, 8, "same")
    firsts = {team_draft(RANKING_A, RANKING_B, 8, f"q{seed}").teams[0] for seed in range(50)}
    assert firsts == {A, B}  # the coin decides who starts


def test_short_rankings_end_the_list_without_repeats() -> None:
    merged = team_draft(["x", "y"], ["y", "z"], 10, "s")
    assert sorted(merged.items) == ["x", "y", "z"]


def test_clicks_vote_for_the_team_that_placed_the_result() -> None:
    shown = Interleaved(["p1", "p4", "p2", "p7"], [A, B, A, B])
    assert winner(shown, ["p1"]) == A
    assert winner(shown, ["p4", "p7", "p1"]) == B
    assert winner(shown, ["p1", "p4"]) is None
    assert winner(shown, []) is None
    assert winner(shown, ["not-shown"]) is None


def simulated_winner(good: list[str], other: list[str], relevant: set[str], rng: random.Random) -> str | None:
    """A shopper who scans from the top and clicks a relevant result with a chance that falls with
    its position (a cascade-like position bias), irrelevant ones rarely."""
    merged = team_draft(good, other, 10, seed=str(rng.random()))
    clicks = [
        item
        for rank, item in enumerate(merged.items)
        if rng.random() < (0.6 if item in relevant else 0.05) / (1 + 0.3 * rank)
    ]
    return winner(merged, clicks)


def test_simulated_shoppers_reveal_the_better_ranker_and_an_a_a_test_stays_quiet() -> None:
    rng = random.Random(18)
    catalog = [f"p{i}" for i in range(200)]
    better = []
    for _ in range(400):
        relevant = set(rng.sample(catalog, 8))
        others = [p for p in catalog if p not in relevant]
        good = rng.sample(sorted(relevant), 5) + rng.sample(others, 15)  # relevant first
        weaker = rng.sample(others, 10) + rng.sample(sorted(relevant), 5) + rng.sample(others, 5)
        better.append(simulated_winner(good, weaker, relevant, rng))
    found = preference(better)
    assert found.wins_a > found.wins_b and found.p_value < 0.01 and found.delta > 0
    false_alarms = 0
    trials = 200
    for _ in range(trials):
        relevant = set(rng.sample(catalog, 8))
        ranking = rng.sample(catalog, 20)
        a_a = [simulated_winner(ranking, ranking, relevant, rng) for _ in range(60)]
        false_alarms += preference(a_a).p_value < 0.05
    # Identical rankers: every result is one team's by the coin only. The sign test is conservative
    # for small counts, so alarms are at most about alpha.
    assert false_alarms / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)

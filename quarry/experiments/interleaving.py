"""Team-draft interleaving (Radlinski, Kurup and Joachims, 2008): two rankers' results merged into one
list, each result credited to the ranker ("team") that placed it; a click is a vote for its team. One
shopper sees both rankers at once, so far fewer searches tell them apart than an A/B test needs
(docs/experiments.md#interleaving). Used for search results and recommendations alike.

The coin that decides which team picks first in each round is seeded by the request's id, so the same
request interleaves the same way on every worker and when its events are credited later."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import msgspec

A, B = "a", "b"


class Interleaved(msgspec.Struct, frozen=True):
    items: list[str]
    teams: list[str]
    """The team of each item, `a` or `b`."""


def team_draft(ranking_a: Sequence[str], ranking_b: Sequence[str], size: int, seed: str) -> Interleaved:
    """At most `size` items. In each round the team with fewer picks picks next (a coin decides a
    tie) and takes its highest-ranked item not already shown."""
    coin = random.Random(seed)  # noqa: S311 - a reproducible coin, not a secret
    items: list[str] = []
    teams: list[str] = []
    shown: set[str] = set()
    position = {A: 0, B: 0}
    rankings = {A: ranking_a, B: ranking_b}
    picks = {A: 0, B: 0}

    def next_of(team: str) -> str | None:
        ranking = rankings[team]
        while position[team] < len(ranking) and ranking[position[team]] in shown:
            position[team] += 1
        return ranking[position[team]] if position[team] < len(ranking) else None

    while len(items) < size:
        if picks[A] != picks[B]:
            order = [A, B] if picks[A] < picks[B] else [B, A]
        else:
            order = [A, B] if coin.random() < 0.5 else [B, A]
        for team in order:
            item = next_of(team)
            if item is not None:
                break
        else:
            break  # both rankings exhausted
        items.append(item)
        teams.append(team)
        shown.add(item)
        picks[team] += 1
    return Interleaved(items, teams)


def winner(interleaved: Interleaved, clicked: Iterable[str]) -> str | None:
    """`a` or `b` for the team with more clicks on this impression, None for a tie (including no
    clicks)."""
    team_of = dict(zip(interleaved.items, interleaved.teams, strict=True))
    votes = {A: 0, B: 0}
    for item in set(clicked):
        team = team_of.get(item)
        if team is not None:
            votes[team] += 1
    if votes[A] == votes[B]:
        return None
    return A if votes[A] > votes[B] else B


class Preference(msgspec.Struct, frozen=True):
    wins_a: int
    wins_b: int
    ties: int
    delta: float
    """(wins_a - wins_b) / impressions: positive when A is preferred."""
    p_value: float
    """Two-sided sign test of A's wins against B's (ties carry no information)."""


def preference(winners: Iterable[str | None]) -> Preference:
    outcomes = list(winners)
    wins_a, wins_b = outcomes.count(A), outcomes.count(B)
    ties = len(outcomes) - wins_a - wins_b
    decided = wins_a + wins_b
    from scipy.stats import binomtest  # scipy loads on first use, not at API start-up

    p_value = float(binomtest(wins_a, decided, 0.5).pvalue) if decided else 1.0
    delta = (wins_a - wins_b) / len(outcomes) if outcomes else 0.0
    return Preference(wins_a, wins_b, ties, delta, p_value)

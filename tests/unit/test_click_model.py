"""The position-based click model recovers known parameters from simulated clicks: examination per
rank and attractiveness per (query, product), each within tolerance, from UBI-shaped events."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pipelines.ltr.click_model import cells_from_events, fit_pbm

RANKS = 10


def event(action: str, query: str, product: str, ordinal: int) -> dict[str, Any]:
    return {
        "action_name": action,
        "user_query": query,
        "event_attributes": {"object": {"object_id": product}, "position": {"ordinal": ordinal}},
    }


def simulate(
    seed: int, sessions_per_query: int = 400
) -> tuple[dict[int, float], dict[tuple[str, str], float], list[dict[str, Any]]]:
    rng = random.Random(seed)
    examination = {r: 1.0 / (r + 1) ** 0.8 for r in range(RANKS)}
    attractiveness = {}
    events = []
    for q in range(40):
        query = f"query {q}"
        products = [f"P{q:02d}{d:02d}" for d in range(RANKS)]
        for product in products:
            attractiveness[(query, product)] = rng.uniform(0.05, 0.9)
        for _ in range(sessions_per_query):
            shown = products[:]
            rng.shuffle(shown)  # rankings vary between sessions, as personalization and new data make them
            for rank, product in enumerate(shown):
                events.append(event("impression", query, product, rank))
                if rng.random() < examination[rank] * attractiveness[(query, product)]:
                    events.append(event("click", query, product, rank))
    return examination, attractiveness, events


def test_examination_and_attractiveness_are_recovered_within_tolerance() -> None:
    examination, attractiveness, events = simulate(seed=7)
    model = fit_pbm(cells_from_events(events))
    assert model.examination[0] == pytest.approx(1.0)
    for rank, truth in examination.items():
        assert model.examination[rank] == pytest.approx(truth, abs=0.04), rank
    # The best any estimator can do from these clicks: one that knows the true examination
    # (clicks / expected examinations). EM, which must also find the examination, comes close.
    clicks: dict[tuple[str, str], int] = {}
    looked: dict[tuple[str, str], float] = {}
    for e in events:
        pair = (e["user_query"], e["event_attributes"]["object"]["object_id"])
        if e["action_name"] == "click":
            clicks[pair] = clicks.get(pair, 0) + 1
        else:
            looked[pair] = looked.get(pair, 0.0) + examination[e["event_attributes"]["position"]["ordinal"]]
    oracle = [abs(clicks.get(pair, 0) / looked[pair] - truth) for pair, truth in attractiveness.items()]
    errors = [abs(model.attractiveness[q][p] - truth) for (q, p), truth in attractiveness.items()]
    mean_error, oracle_error = sum(errors) / len(errors), sum(oracle) / len(oracle)
    assert mean_error < 0.05
    assert mean_error <= 1.15 * oracle_error


def test_a_low_ranked_attractive_product_outranks_a_top_ranked_dull_one() -> None:
    """What raw CTR gets wrong: shown always at rank 0 with alpha 0.2, or always at rank 6 with alpha
    0.6; the first has the higher CTR, the second the higher attractiveness."""
    rng = random.Random(3)
    gamma = {r: 1.0 / (r + 1) ** 0.8 for r in range(RANKS)}
    events = []
    for _ in range(3000):
        order = ["dull", *[f"filler{i}" for i in range(5)], "gem", "x7", "x8", "x9"]
        rng.shuffle(order[1:6])
        for rank, product in enumerate(order):
            alpha = {"dull": 0.2, "gem": 0.6}.get(product, 0.3)
            events.append(event("impression", "lamp", product, rank))
            if rng.random() < gamma[rank] * alpha:
                events.append(event("click", "lamp", product, rank))
        # Fillers move around, which pins down examination at every rank.
        order2 = order[:]
        rng.shuffle(order2)
        for rank, product in enumerate(order2):
            if product in ("dull", "gem"):
                continue
            events.append(event("impression", "lamp", product, rank))
            if rng.random() < gamma[rank] * 0.3:
                events.append(event("click", "lamp", product, rank))
    model = fit_pbm(cells_from_events(events))
    assert model.attractiveness["lamp"]["gem"] > model.attractiveness["lamp"]["dull"]
    assert model.attractiveness["lamp"]["gem"] == pytest.approx(0.6, abs=0.08)
    assert model.attractiveness["lamp"]["dull"] == pytest.approx(0.2, abs=0.05)


def test_events_without_rank_query_or_impression_are_left_out_and_no_data_is_an_error() -> None:
    events = [
        event("click", "lamp", "P1", 0),  # a click with no impression: no cell
        {"action_name": "impression", "event_attributes": {"object": {"object_id": "P2"}}},
        event("add_to_cart", "lamp", "P3", 0),
        event("impression", "lamp", "P4", 12),  # beyond max_rank
    ]
    assert cells_from_events(events) == {}
    with pytest.raises(ValueError, match="no impressions"):
        fit_pbm({})

"""A position-based click model (PBM) fitted by expectation-maximization: judgments from clicks that
do not simply repeat the ranking that produced them.

A shopper clicks a result when they look at its rank (examination, gamma_r, the same for every query)
and find it attractive (alpha_qd, one per query and product): P(click) = gamma_r * alpha_qd. Raw CTR
credits the top ranks for being on top; alpha is the click rate a product would get if every shopper
looked at it, which is what a ranker should learn from. COEC (pipelines/coec.py) corrects for rank
too, but against the average document at that rank; PBM separates the two factors, so a product
shown low and still clicked gets the credit it earned.

EM (Chuklin, Markov and de Rijke, "Click Models for Web Search", 2015, ch. 4): a click says both
factors held; a skip says one of them failed, split by their current odds. The model is identified
only up to a scale (gamma * k, alpha / k), so examination is normalized to 1 at the first rank: a
shopper sees the top result. Products must have been seen at more than one rank for the factors to
separate, which rotating rankings, pagination and personalization supply.

Events are read the way COEC reads them (`action_name` click or impression, 0-based
`event_attributes.position.ordinal`, the event's `user_query`, the object id as a string).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from pipelines.coec import CLICK, IMPRESSION, _object_id, _ordinal
from quarry.adapters.search_engine import SearchEngine
from quarry.ubi import UBI_QUERIES

Cell = tuple[str, str, int]  # query, product, rank (0-based)
Key = TypeVar("Key")


class CellCounts(msgspec.Struct):
    impressions: int = 0
    clicks: int = 0


class PositionBasedModel(msgspec.Struct, frozen=True):
    examination: dict[int, float]
    """gamma_r by 0-based rank; 1.0 at rank 0."""
    attractiveness: dict[str, dict[str, float]]
    """alpha by query, then product."""
    impressions: dict[str, dict[str, int]]
    """How often each (query, product) was shown: how much its alpha can be trusted."""
    iterations: int
    log_likelihood: float


def cells_from_events(events: Iterable[Mapping[str, Any]], max_rank: int = 10) -> dict[Cell, CellCounts]:
    """Impressions and clicks per (query, product, rank), ranks below `max_rank`. A click is counted
    only up to its cell's impressions: a click without an impression (a client that does not send
    them) would make P(click) exceed 1."""
    cells: defaultdict[Cell, CellCounts] = defaultdict(CellCounts)
    for event in events:
        seen = _seen(event, max_rank)
        if seen is not None:
            kind, query, product, ordinal = seen
            _count(cells[(query, product, ordinal)], kind)
    return _capped(cells)


def _seen(event: Mapping[str, Any], max_rank: int) -> tuple[str, str, str, int] | None:
    """(kind, query, product, rank) of an impression or click within `max_rank`; None otherwise."""
    action = event.get("action_name")
    kind = action.lower() if isinstance(action, str) else None
    if kind not in (CLICK, IMPRESSION):
        return None
    ordinal, query, product = _ordinal(event), event.get("user_query"), _object_id(event)
    if ordinal is None or not 0 <= ordinal < max_rank or not isinstance(query, str) or product is None:
        return None
    return kind, query, product, ordinal


def _count(counts: CellCounts, kind: str) -> None:
    if kind == CLICK:
        counts.clicks += 1
    else:
        counts.impressions += 1


def _capped(cells: Mapping[Key, CellCounts]) -> dict[Key, CellCounts]:
    for counts in cells.values():
        counts.clicks = min(counts.clicks, counts.impressions)
    return {cell: counts for cell, counts in cells.items() if counts.impressions}


def examination_from_exploration(
    events: Iterable[Mapping[str, Any]], phases: Mapping[str, int], depth: int, max_rank: int = 10
) -> dict[int, float] | None:
    """The examination curve from the searches position-bias exploration swapped
    (quarry/search/exploration.py; `phases`: query id -> the phase its UBI record names). A product's
    usual rank h is its most frequent rank in the other searches. Explored searches show it at h-1
    or h+1 by a draw on the search's id alone, the others at h, so for one (query, product) the
    click rates at those ranks differ by examination only: the pooled (Mantel-Haenszel) ratio of
    click rates over every product seen at both estimates gamma(r+1)/gamma(r). The curve is the
    power law gamma(r) = (r+1)^-eta (Joachims et al. 2017) that fits those ratios best. None when
    no neighbouring ranks share a clicked product.

    Only a product's usual rank and its explored neighbours count. EM alone finds the curve only
    where rankings vary a lot; where nearly every product keeps its rank it crawls from its start
    (2,000 iterations went less than halfway, tests/unit/test_position_exploration.py). Other rank
    changes are no substitute: personalization moves a product up for the shoppers who like it,
    which makes a higher rank look more examined than it is (on the simulated stack, pooling every
    rank a product was seen at put rank 5 at 0.20 where the shoppers look 0.28 as often)."""
    events = list(events)
    seen = [(event, found) for event in events if (found := _seen(event, max_rank)) is not None]
    page_sizes: defaultdict[str, int] = defaultdict(int)
    usual: defaultdict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for event, (kind, query, product, ordinal) in seen:
        if kind != IMPRESSION:
            continue
        if event.get("query_id") in phases:
            page_sizes[str(event["query_id"])] += 1
        else:
            usual[(query, product)][ordinal] += 1
    home = {pair: ranks.most_common(1)[0][0] for pair, ranks in usual.items()}
    cells: defaultdict[Cell, CellCounts] = defaultdict(CellCounts)
    for event, (kind, query, product, ordinal) in seen:
        query_id = event.get("query_id")
        if query_id in phases:
            swapped = min(depth, page_sizes[str(query_id)])
            ranked = _ranked_at(ordinal, phases[str(query_id)], swapped)
        else:
            ranked = ordinal
        if ranked == home.get((query, product)):
            _count(cells[(query, product, ordinal)], kind)
    at: defaultdict[tuple[str, str], dict[int, CellCounts]] = defaultdict(dict)
    for (query, product, ordinal), counts in _capped(cells).items():
        at[(query, product)][ordinal] = counts
    # Each pair of neighbouring ranks gives a pooled ratio rate(r+1) / rate(r). The curve is the
    # power law (r+1)^-eta fitted to their logarithms, each weighted by the clicks its explored
    # searches had: chained one by one, the ratios' errors multiplied down the ranks (one simulated
    # week at 5 %, about 30 clicks a pair, put rank 5 at 0.12 where the shoppers look 0.24 as often).
    moment = spread = 0.0
    for rank in range(1, max_rank):
        clicked_lower = clicked_upper = explored_clicks = 0.0
        for (query, product), ranks in at.items():
            if rank in ranks and rank - 1 in ranks:
                lower, upper = ranks[rank], ranks[rank - 1]
                clicked_lower += lower.clicks * upper.impressions
                clicked_upper += upper.clicks * lower.impressions
                explored_clicks += (lower if home[(query, product)] == rank - 1 else upper).clicks
        if clicked_lower > 0 and clicked_upper > 0:
            step = math.log((rank + 1) / rank)
            moment += explored_clicks * step * math.log(clicked_lower / clicked_upper)
            spread += explored_clicks * step * step
    if spread <= 0:
        return None
    eta = max(0.0, -moment / spread)  # a lower rank is never examined more often (shoppers read down)
    return {rank: (rank + 1) ** -eta for rank in range(max_rank)}


def explored_phases(engine: SearchEngine) -> dict[str, int]:
    """Query id -> exploration phase, from the UBI query records of the searches shown swapped."""
    if not engine.index_exists(UBI_QUERIES):
        return {}
    query = {"exists": {"field": "query_attributes.exploration"}}
    return {
        str(hit.source["query_id"]): int(hit.source["query_attributes"]["exploration"])
        for hit in engine.scan(UBI_QUERIES, query)
    }


def _ranked_at(shown_at: int, phase: int, swapped: int) -> int:
    """Where the product shown at `shown_at` was ranked: its swap partner, or itself outside the
    swapped pairs (the swap is its own inverse)."""
    if shown_at < phase or shown_at >= swapped:
        return shown_at
    partner = shown_at + 1 if (shown_at - phase) % 2 == 0 else shown_at - 1
    return partner if partner < swapped else shown_at


def fit_pbm(
    cells: Mapping[Cell, CellCounts],
    max_iterations: int = 200,
    tolerance: float = 1e-6,
    examination: Mapping[int, float] | None = None,
) -> PositionBasedModel:
    """EM until no parameter moves by more than `tolerance`, from every factor at 0.5.
    `examination`: a curve measured by exploration (`examination_from_exploration`), kept as it is
    while EM fits attractiveness only. Left free, the curve drifts along the flat likelihood of the
    products that never moved (at rank 10, from the measured 0.17 to 0.11 where the truth is 0.16)."""
    if not cells:
        raise ValueError("no impressions to fit a click model on")
    pairs = {(q, d) for q, d, _ in cells}
    ranks = sorted({r for _, _, r in cells})
    alpha = dict.fromkeys(pairs, 0.5)
    measured = examination is not None and all(r in examination for r in ranks)
    gamma = (
        {r: examination[r] for r in ranks}
        if examination is not None and measured
        else dict.fromkeys(ranks, 0.5)
    )
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        alpha_num: defaultdict[tuple[str, str], float] = defaultdict(float)
        alpha_den: defaultdict[tuple[str, str], float] = defaultdict(float)
        gamma_num: defaultdict[int, float] = defaultdict(float)
        gamma_den: defaultdict[int, float] = defaultdict(float)
        for (query, product, rank), counts in cells.items():
            a, g = alpha[(query, product)], gamma[rank]
            skipped = counts.impressions - counts.clicks
            neither = max(1.0 - g * a, 1e-12)
            alpha_num[(query, product)] += counts.clicks + skipped * (1.0 - g) * a / neither
            alpha_den[(query, product)] += counts.impressions
            gamma_num[rank] += counts.clicks + skipped * g * (1.0 - a) / neither
            gamma_den[rank] += counts.impressions
        new_gamma = gamma if measured else {r: gamma_num[r] / gamma_den[r] for r in ranks}
        new_alpha = {p: alpha_num[p] / alpha_den[p] for p in pairs}
        top = new_gamma[ranks[0]]
        if top > 0 and not measured:  # the scale: the first rank is always examined
            new_gamma = {r: min(1.0, g / top) for r, g in new_gamma.items()}
            new_alpha = {p: min(1.0, a * top) for p, a in new_alpha.items()}
        moved = max(
            max(abs(new_gamma[r] - gamma[r]) for r in ranks),
            max(abs(new_alpha[p] - alpha[p]) for p in pairs),
        )
        alpha, gamma = new_alpha, new_gamma
        if moved < tolerance:
            break
    log_likelihood = 0.0
    for (query, product, rank), counts in cells.items():
        p = min(max(gamma[rank] * alpha[(query, product)], 1e-12), 1 - 1e-12)
        log_likelihood += counts.clicks * math.log(p) + (counts.impressions - counts.clicks) * math.log(1 - p)
    attractiveness: defaultdict[str, dict[str, float]] = defaultdict(dict)
    impressions: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for (query, product), value in sorted(alpha.items()):
        attractiveness[query][product] = value
    for (query, product, _), counts in cells.items():
        impressions[query][product] = impressions[query].get(product, 0) + counts.impressions
    return PositionBasedModel(
        examination=gamma,
        attractiveness=dict(attractiveness),
        impressions=dict(impressions),
        iterations=iterations,
        log_likelihood=log_likelihood,
    )

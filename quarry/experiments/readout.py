"""An experiment read from UBI (docs/experiments.md#reading-an-experiment): exposures
per variant, engagement and revenue per randomized unit, latency per search, the sample-ratio check
and each metric against control. Shared by `make experiment-report` (markdown and plots) and the
API's experiment dashboard.

Exposures are the records that carry the experiment (`query_attributes.experiments`): UBI query
records for search, answer records (quarry/recommendation_log.py) for recommendations; events join
them by `query_id`. The unit of analysis is the experiment's unit (user or session): it
is what was randomized, so its rates are independent draws and the two-proportion z-test (rates) and
Welch's t-test (revenue) hold. Per search metrics (zero results, latency) are shown too, with the
caveat that one shopper's searches are not independent: their intervals are too narrow.

Revenue is the catalog price, at read time, of each product bought after an exposed search (one
unit per purchase event): events carry no price, and a price a client sent could not be trusted.

CUPED: for a user experiment, each user's same metric over the `PRE_PERIOD_DAYS` before the start
(from all their UBI events, exposed or not) is the covariate; it runs only where the pre-period
varies, and is reported beside the plain comparison, not instead of it.

The fixed horizon is the definition's `minimum_sample` per variant: before every variant has it,
the result is not to be read yet (peeking at a fixed-horizon test inflates false positives;
docs/experiments.md#the-statistics)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from quarry.adapters.search_engine import SearchEngine
from quarry.experiments.assignment import INTERLEAVED
from quarry.experiments.definitions import Experiment
from quarry.experiments.interleaving import A, B, Interleaved, Preference, preference, winner
from quarry.experiments.live import Surface, surfaces_of
from quarry.experiments.stats import Comparison, SampleRatio, cuped, sample_ratio, two_proportions, welch
from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG
from quarry.ubi import UBI_EVENTS, UBI_QUERIES, ubi_timestamp

QUERY_ID_CHUNK = 1_000
PRE_PERIOD_DAYS = 14
USER_METRICS = {"ctr": "click", "add_to_cart_rate": "add_to_cart", "conversion_rate": "purchase"}
"""Per unit: the share of units with at least one such event after an exposed search."""
REVENUE = "revenue_per_user"
REVENUE_PER_SEARCH = "revenue_per_search"

PriceLookup = Callable[[Sequence[str]], Mapping[str, float]]
"""Product ids -> their catalog prices (unknown products left out)."""


class VariantCounts(msgspec.Struct):
    variant: str
    share: float
    units: int = 0
    searches: int = 0
    zero_result_searches: int = 0
    units_with: dict[str, int] = msgspec.field(default_factory=dict)
    """Units with at least one event of each action."""
    searches_with: dict[str, int] = msgspec.field(default_factory=dict)
    """Exposed searches (or answers) followed by at least one event of each action."""
    revenue: float = 0.0
    """The catalog price of every product bought after an exposed search."""
    latency_p95_ms: float | None = None
    """Of the searches that logged their latency."""


class MetricComparison(msgspec.Struct, frozen=True):
    metric: str
    per: str
    """`user`/`session` (the randomized unit), `search`, or `user (CUPED)`."""
    variant: str
    control_value: float
    variant_value: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    test: str = "z"
    """`z` (two proportions) or `welch`."""
    guardrail_breached: bool = False
    """A guardrail of the definition, significantly worse in the variant (higher zero-result rate or
    latency; lower engagement or revenue): stop or look before reading the primary metric."""


class ExperimentReport(msgspec.Struct, frozen=True):
    experiment: str
    primary_metric: str
    unit: str
    measured_at: str
    first_exposure: str | None
    last_exposure: str | None
    variants: list[VariantCounts]
    sample_ratio: SampleRatio
    minimum_sample: int
    readable: bool
    """Every variant has its minimum sample and the split is not broken: the result may be read."""
    comparisons: list[MetricComparison]
    cuped_theta: dict[str, float] = {}
    """Per metric adjusted with CUPED: the fitted theta (absent: no pre-period data varied)."""
    interleaving: InterleavingReadout | None = None
    """An interleaving experiment's result (its comparisons are empty: every unit saw both teams)."""


class UnitOutcomes(msgspec.Struct):
    """One variant's units, in one order: what each did after its exposed searches."""

    units: list[str]
    actions: dict[str, list[float]]
    """Action -> 1.0 for each unit with at least one such event, else 0.0."""
    revenue: list[float]


class Engagement(msgspec.Struct):
    actions: set[str] = msgspec.field(default_factory=set)
    bought: list[str] = msgspec.field(default_factory=list)
    """Product ids of its purchase events, one per event."""
    clicked: set[str] = msgspec.field(default_factory=set)


class InterleavingReadout(msgspec.Struct, frozen=True):
    """An interleaving experiment's votes: a click on an item is a vote for the team that placed it,
    and the team with more votes wins the impression (quarry/experiments/interleaving.py)."""

    team_a: str
    team_b: str
    impressions: int
    per_impression: Preference
    """Sign test over impressions: one unit's impressions are not independent, so it is too sure."""
    per_unit: Preference
    """Each unit's majority over its impressions, then the sign test over units: the one to read."""


def catalog_prices(engine: SearchEngine, index: str) -> PriceLookup:
    """Prices from the catalog (doc values only), in chunks of `QUERY_ID_CHUNK` ids."""

    def lookup(product_ids: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        wanted = sorted(set(product_ids))
        for start in range(0, len(wanted), QUERY_ID_CHUNK):
            chunk = wanted[start : start + QUERY_ID_CHUNK]
            body = {
                "size": len(chunk),
                "_source": ["product_id", "price"],
                "query": {"terms": {"product_id": chunk}},
            }
            for hit in engine.search(index, body).hits:
                price = hit.source.get("price")
                if isinstance(price, int | float) and not isinstance(price, bool):
                    found[str(hit.source["product_id"])] = float(price)
        return found

    return lookup


EXPOSURE_INDICES: dict[Surface, str] = {"search": UBI_QUERIES, "recommendations": RECOMMENDATION_LOG}
"""Where each surface records its answers, with the experiments they exposed."""


def exposures(
    engine: SearchEngine, experiment: Experiment, until: dt.datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The records that exposed a unit to the experiment (UBI query records for search, answer
    records for recommendations), one variant at a time; `until`: only those up to that moment."""
    field = f"query_attributes.experiments.{experiment.name}"
    # Only the experiment's own run: a name used again (a file removed, then defined through the
    # admin API) must not read another run's records.
    span = {"gte": ubi_timestamp(experiment.start), "lt": ubi_timestamp(experiment.stop)}
    if until is not None and until < experiment.stop:  # one upper bound: a range takes lt or lte
        del span["lt"]
        span["lte"] = ubi_timestamp(until)
    window = [{"range": {"timestamp": span}}]
    indices = [EXPOSURE_INDICES[surface] for surface in surfaces_of(experiment)]
    for index in indices:
        if not engine.index_exists(index):  # nothing recorded yet
            continue
        for variant in variant_names(experiment):
            query = {"bool": {"filter": [{"term": {field: variant}}, *window]}}
            for hit in engine.scan(index, query):
                yield {**hit.source, "_variant": variant}


def variant_names(experiment: Experiment) -> list[str]:
    """What the records name as the unit's variant."""
    if experiment.design == "interleaving":
        return [INTERLEAVED]
    return [v.name for v in experiment.variants]


def _object_id(event: Mapping[str, Any]) -> str | None:
    found = ((event.get("event_attributes") or {}).get("object") or {}).get("object_id")
    return None if found is None else str(found)


def _scan_events(
    engine: SearchEngine, field: str, keys: list[str], extra: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for start in range(0, len(keys), QUERY_ID_CHUNK):
        chunk = keys[start : start + QUERY_ID_CHUNK]
        wanted = [{"terms": {field: chunk}}, {"terms": {"action_name": sorted(USER_METRICS.values())}}]
        for hit in engine.scan(UBI_EVENTS, {"bool": {"filter": [*wanted, *extra]}}):
            yield hit.source


def engaged(engine: SearchEngine, query_ids: list[str]) -> dict[str, Engagement]:
    """What followed each search, by query id."""
    found: dict[str, Engagement] = defaultdict(Engagement)
    for event in _scan_events(engine, "query_id", query_ids, []):
        _record(found[str(event["query_id"])], event)
    return found


def before(engine: SearchEngine, users: list[str], start: dt.datetime) -> dict[str, Engagement]:
    """What each user did in the pre-period, exposed or not: CUPED's covariate."""
    window = {
        "range": {
            "timestamp": {
                "gte": (start - dt.timedelta(days=PRE_PERIOD_DAYS)).isoformat(),
                "lt": start.isoformat(),
            }
        }
    }
    found: dict[str, Engagement] = defaultdict(Engagement)
    for event in _scan_events(engine, "user_id", users, [window]):
        _record(found[str(event["user_id"])], event)
    return found


def _record(engagement: Engagement, event: Mapping[str, Any]) -> None:
    action = str(event["action_name"])
    engagement.actions.add(action)
    product = _object_id(event)
    if action == "purchase" and product is not None:
        engagement.bought.append(product)
    if action == "click" and product is not None:
        engagement.clicked.add(product)


def outcomes(per_unit: Mapping[str, Sequence[Engagement]], prices: Mapping[str, float]) -> UnitOutcomes:
    units = sorted(per_unit)
    actions = {
        action: [float(any(action in e.actions for e in per_unit[u])) for u in units]
        for action in USER_METRICS.values()
    }
    revenue = [sum(prices.get(p, 0.0) for e in per_unit[u] for p in e.bought) for u in units]
    return UnitOutcomes(units, actions, revenue)


def report(
    engine: SearchEngine,
    experiment: Experiment,
    now: dt.datetime,
    prices: PriceLookup | None = None,
    until: dt.datetime | None = None,
) -> ExperimentReport:
    """`prices`: the catalog's (without it, revenue counts as 0). `until`: the report as it read at
    that moment (the exposures up to it), for a look back at how the evidence grew."""
    if experiment.design == "interleaving":
        return interleaving_report(engine, experiment, now, until)
    unit_field = "user_id" if experiment.unit == "user" else "session_id"
    counts = {v.name: VariantCounts(v.name, v.share) for v in experiment.variants}
    units: dict[str, dict[str, set[str]]] = {v.name: defaultdict(set) for v in experiment.variants}
    """Per variant: unit -> its exposed query ids."""
    latencies: dict[str, list[float]] = {v.name: [] for v in experiment.variants}
    searched: dict[str, list[str]] = {v.name: [] for v in experiment.variants}
    stamps: list[str] = []
    for record in exposures(engine, experiment, until):
        variant = counts[record["_variant"]]
        variant.searches += 1
        searched[variant.variant].append(str(record["query_id"]))
        attributes = record.get("query_attributes") or {}
        if attributes.get("total") in (0, "0"):
            variant.zero_result_searches += 1
        latency = _number(attributes.get("latency_ms"))
        if latency is not None:
            latencies[variant.variant].append(latency)
        unit = record.get(unit_field)
        if unit:
            units[variant.variant][str(unit)].add(str(record["query_id"]))
        if record.get("timestamp"):
            stamps.append(str(record["timestamp"]))
    followed = engaged(engine, sorted({q for ids in searched.values() for q in ids}))
    bought = sorted({p for e in followed.values() for p in e.bought})
    price_of = dict(prices(bought)) if prices is not None and bought else {}
    results: dict[str, UnitOutcomes] = {}
    for name, per_unit in units.items():
        results[name] = outcomes(
            {u: [followed[q] for q in ids if q in followed] for u, ids in per_unit.items()}, price_of
        )
        variant = counts[name]
        variant.units = len(per_unit)
        variant.units_with = {a: int(sum(v)) for a, v in results[name].actions.items()}
        variant.revenue = round(sum(results[name].revenue), 2)
        variant.searches_with = {
            action: sum(1 for q in searched[name] if q in followed and action in followed[q].actions)
            for action in USER_METRICS.values()
        }
        if latencies[name]:
            variant.latency_p95_ms = round(float(np.percentile(latencies[name], 95)), 2)
    ordered = [counts[v.name] for v in experiment.variants]
    ratio = sample_ratio([c.units for c in ordered], [c.share for c in ordered])
    readable = not ratio.mismatch and all(c.units >= max(1, experiment.minimum_sample) for c in ordered)
    found = comparisons(ordered, experiment.unit)
    names = [v.name for v in experiment.variants]
    revenue_per_search = {
        name: [sum(price_of.get(p, 0.0) for p in followed[q].bought) if q in followed else 0.0 for q in ids]
        for name, ids in searched.items()
    }
    found += per_unit_comparisons(names, results, revenue_per_search, latencies, experiment.unit)
    thetas: dict[str, float] = {}
    if experiment.unit == "user":
        all_users = sorted({u for r in results.values() for u in r.units})
        history = before(engine, all_users, experiment.start)
        if history:
            history_bought = sorted({p for e in history.values() for p in e.bought} - set(price_of))
            if prices is not None and history_bought:
                price_of.update(prices(history_bought))
            pre = {
                name: outcomes({u: [history[u]] if u in history else [] for u in r.units}, price_of)
                for name, r in results.items()
            }
            adjusted, thetas = cuped_comparisons(names, results, pre)
            found += adjusted
    return ExperimentReport(
        experiment=experiment.name,
        primary_metric=experiment.primary_metric,
        unit=experiment.unit,
        measured_at=now.isoformat(timespec="seconds"),
        first_exposure=min(stamps) if stamps else None,
        last_exposure=max(stamps) if stamps else None,
        variants=ordered,
        sample_ratio=ratio,
        minimum_sample=experiment.minimum_sample,
        readable=readable,
        comparisons=[flagged(c, experiment.guardrails) for c in found],
        cuped_theta=thetas,
    )


HIGHER_IS_WORSE = frozenset({"zero_result_rate", "latency"})


def flagged(comparison: MetricComparison, guardrails: Sequence[str]) -> MetricComparison:
    """Marks a guardrail the variant significantly worsened (per-unit and per-search rows alike)."""
    metric = REVENUE if comparison.metric == REVENUE_PER_SEARCH else comparison.metric
    if metric not in guardrails or not comparison.significant:
        return comparison
    worse = comparison.effect > 0 if metric in HIGHER_IS_WORSE else comparison.effect < 0
    return msgspec.structs.replace(comparison, guardrail_breached=worse)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _row(metric: str, per: str, variant: str, compared: Comparison, test: str) -> MetricComparison:
    return MetricComparison(
        metric,
        per,
        variant,
        round(compared.control, 6),
        round(compared.variant, 6),
        round(compared.effect, 6),
        round(compared.ci_low, 6),
        round(compared.ci_high, 6),
        round(compared.p_value, 6),
        compared.significant(),
        test,
    )


def comparisons(ordered: list[VariantCounts], unit: str) -> list[MetricComparison]:
    """The rates: every variant against the first (control), with the two-proportion z-test."""
    control, found = ordered[0], []
    for variant in ordered[1:]:
        pairs = [
            (metric, unit, control.units_with[act], control.units, variant.units_with[act], variant.units)
            for metric, act in USER_METRICS.items()
        ] + [
            (
                metric,
                "search",
                control.searches_with[act],
                control.searches,
                variant.searches_with[act],
                variant.searches,
            )
            for metric, act in USER_METRICS.items()
        ]
        pairs.append(
            (
                "zero_result_rate",
                "search",
                control.zero_result_searches,
                control.searches,
                variant.zero_result_searches,
                variant.searches,
            )
        )
        for metric, per, hits_a, n_a, hits_b, n_b in pairs:
            if min(n_a, n_b) == 0:
                continue
            found.append(_row(metric, per, variant.variant, two_proportions(hits_a, n_a, hits_b, n_b), "z"))
    return found


def per_unit_comparisons(
    names: list[str],
    results: Mapping[str, UnitOutcomes],
    per_search: Mapping[str, list[float]],
    latencies: Mapping[str, list[float]],
    unit: str,
) -> list[MetricComparison]:
    """Revenue per unit and per search (`per_search`), and latency per search, with Welch's t-test
    (each side needs two values)."""
    control, found = names[0], []
    for name in names[1:]:
        samples = [
            (REVENUE, unit, results[control].revenue, results[name].revenue),
            (REVENUE_PER_SEARCH, "search", per_search[control], per_search[name]),
            ("latency", "search", latencies[control], latencies[name]),
        ]
        for metric, per, a, b in samples:
            if min(len(a), len(b)) >= 2:
                found.append(_row(metric, per, name, welch(a, b), "welch"))
    return found


def _values(outcomes: UnitOutcomes, metric: str) -> list[float]:
    return outcomes.revenue if metric == REVENUE else outcomes.actions[USER_METRICS[metric]]


def cuped_comparisons(
    names: list[str], results: Mapping[str, UnitOutcomes], pre: Mapping[str, UnitOutcomes]
) -> tuple[list[MetricComparison], dict[str, float]]:
    """Each per-user metric whose pre-period varies, adjusted with CUPED, then Welch's t-test."""
    control, found, thetas = names[0], [], {}
    for metric in [*USER_METRICS, REVENUE]:
        if len({x for name in names for x in _values(pre[name], metric)}) < 2:
            continue
        for name in names[1:]:
            a, b = _values(results[control], metric), _values(results[name], metric)
            if min(len(a), len(b)) < 2:
                continue
            adjusted = cuped(a, _values(pre[control], metric), b, _values(pre[name], metric))
            thetas[metric] = round(adjusted.theta, 6)
            compared = welch(adjusted.control, adjusted.variant)
            found.append(_row(metric, "user (CUPED)", name, compared, "welch"))
    return found, thetas


def interleaving_report(
    engine: SearchEngine, experiment: Experiment, now: dt.datetime, until: dt.datetime | None = None
) -> ExperimentReport:
    unit_field = "user_id" if experiment.unit == "user" else "session_id"
    team_a, team_b = (v.name for v in experiment.variants)
    letters = {team_a: A, team_b: B}
    shown: list[tuple[str | None, str, Interleaved]] = []
    stamps: list[str] = []
    for record in exposures(engine, experiment, until):
        items = [str(i) for i in record.get("query_response_hit_ids") or []]
        teams = [letters.get(str(t), "") for t in (record.get("query_attributes") or {}).get("teams") or []]
        if not items or len(teams) != len(items) or "" in teams:  # not merged, or not these two teams
            continue
        unit = record.get(unit_field)
        shown.append((str(unit) if unit else None, str(record["query_id"]), Interleaved(items, teams)))
        if record.get("timestamp"):
            stamps.append(str(record["timestamp"]))
    followed = engaged(engine, sorted({query_id for _, query_id, _ in shown}))
    votes = [
        (unit, winner(merged, followed[q].clicked if q in followed else ())) for unit, q, merged in shown
    ]
    by_unit: dict[str, int] = defaultdict(int)
    for unit, won in votes:
        if unit is not None:
            by_unit[unit] += {A: 1, B: -1}.get(won or "", 0)
    unit_winners = [A if lead > 0 else B if lead < 0 else None for lead in by_unit.values()]
    units = len(by_unit)
    counts = VariantCounts(INTERLEAVED, 1.0, units=units, searches=len(shown))
    return ExperimentReport(
        experiment=experiment.name,
        primary_metric=experiment.primary_metric,
        unit=experiment.unit,
        measured_at=now.isoformat(timespec="seconds"),
        first_exposure=min(stamps) if stamps else None,
        last_exposure=max(stamps) if stamps else None,
        variants=[counts],
        sample_ratio=SampleRatio([units], [float(units)], 0.0, 1.0),  # nothing was split
        minimum_sample=experiment.minimum_sample,
        readable=units >= max(1, experiment.minimum_sample),
        comparisons=[],
        interleaving=InterleavingReadout(
            team_a, team_b, len(shown), preference(won for _, won in votes), preference(unit_winners)
        ),
    )

"""A search experiment read from UBI (docs/experiments.md#reading-a-search-experiment): exposures
per variant, engagement per randomized unit, the sample-ratio check and each metric against control.
Shared by `make experiment-report` (markdown and plots) and the API's experiment dashboard.

Exposures are the UBI query records that carry the experiment (`query_attributes.experiments`);
events join them by `query_id`. The unit of analysis is the experiment's unit (user or session): it
is what was randomized, so its rates are independent draws and the two-proportion z-test holds. Per
search rates (zero results) are shown too, with the caveat that one shopper's searches are not
independent: their intervals are too narrow.

The fixed horizon is the definition's `minimum_sample` per variant: before every variant has it,
the result is not to be read yet (peeking at a fixed-horizon test inflates false positives;
docs/experiments.md#the-statistics)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.experiments.definitions import Experiment
from quarry.experiments.stats import SampleRatio, sample_ratio, two_proportions
from quarry.ubi import UBI_EVENTS, UBI_QUERIES

QUERY_ID_CHUNK = 1_000
USER_METRICS = {"ctr": "click", "add_to_cart_rate": "add_to_cart", "conversion_rate": "purchase"}
"""Per unit: the share of units with at least one such event after an exposed search."""


class VariantCounts(msgspec.Struct):
    variant: str
    share: float
    units: int = 0
    searches: int = 0
    zero_result_searches: int = 0
    units_with: dict[str, int] = msgspec.field(default_factory=dict)
    """Units with at least one event of each action."""


class MetricComparison(msgspec.Struct, frozen=True):
    metric: str
    per: str
    """`user`/`session` (the randomized unit) or `search`."""
    variant: str
    control_value: float
    variant_value: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


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


def exposures(engine: SearchEngine, experiment: Experiment) -> Iterator[dict[str, Any]]:
    """The UBI query records that exposed a unit to the experiment, one variant at a time."""
    field = f"query_attributes.experiments.{experiment.name}"
    for variant in experiment.variants:
        query = {"bool": {"filter": [{"term": {field: variant.name}}]}}
        for hit in engine.scan(UBI_QUERIES, query):
            yield {**hit.source, "_variant": variant.name}


def engaged(engine: SearchEngine, query_ids: list[str], actions: set[str]) -> dict[str, set[str]]:
    """The actions that followed each search, by query id."""
    found: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(query_ids), QUERY_ID_CHUNK):
        chunk = query_ids[start : start + QUERY_ID_CHUNK]
        wanted = [{"terms": {"query_id": chunk}}, {"terms": {"action_name": sorted(actions)}}]
        query = {"bool": {"filter": wanted}}
        for hit in engine.scan(UBI_EVENTS, query):
            found[str(hit.source["query_id"])].add(str(hit.source["action_name"]))
    return found


def report(engine: SearchEngine, experiment: Experiment, now: dt.datetime) -> ExperimentReport:
    unit_field = "user_id" if experiment.unit == "user" else "session_id"
    counts = {v.name: VariantCounts(v.name, v.share) for v in experiment.variants}
    units: dict[str, dict[str, set[str]]] = {v.name: defaultdict(set) for v in experiment.variants}
    """Per variant: unit -> its exposed query ids."""
    stamps: list[str] = []
    for record in exposures(engine, experiment):
        variant = counts[record["_variant"]]
        variant.searches += 1
        if (record.get("query_attributes") or {}).get("total") in (0, "0"):
            variant.zero_result_searches += 1
        unit = record.get(unit_field)
        if unit:
            units[variant.variant][str(unit)].add(str(record["query_id"]))
        if record.get("timestamp"):
            stamps.append(str(record["timestamp"]))
    all_ids = sorted({q for per_unit in units.values() for ids in per_unit.values() for q in ids})
    actions = engaged(engine, all_ids, set(USER_METRICS.values()))
    for name, per_unit in units.items():
        counts[name].units = len(per_unit)
        for action in USER_METRICS.values():
            counts[name].units_with[action] = sum(
                1 for ids in per_unit.values() if any(action in actions.get(q, ()) for q in ids)
            )
    ordered = [counts[v.name] for v in experiment.variants]
    ratio = sample_ratio([c.units for c in ordered], [c.share for c in ordered])
    readable = not ratio.mismatch and all(c.units >= max(1, experiment.minimum_sample) for c in ordered)
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
        comparisons=comparisons(ordered, experiment.unit),
    )


def comparisons(ordered: list[VariantCounts], unit: str) -> list[MetricComparison]:
    """Every variant against the first (control), per metric."""
    control, found = ordered[0], []
    for variant in ordered[1:]:
        pairs = [
            (metric, unit, control.units_with[act], control.units, variant.units_with[act], variant.units)
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
            compared = two_proportions(hits_a, n_a, hits_b, n_b)
            found.append(
                MetricComparison(
                    metric,
                    per,
                    variant.variant,
                    round(compared.control, 6),
                    round(compared.variant, 6),
                    round(compared.effect, 6),
                    round(compared.ci_low, 6),
                    round(compared.ci_high, 6),
                    round(compared.p_value, 6),
                    compared.significant(),
                )
            )
    return found

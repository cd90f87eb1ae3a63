"""The promotion gate every path through the registry uses (`python -m pipelines models promote`
and the DAGs): a version moves up only when the evidence of its stage says it is no worse.

- to `shadow` (or to `champion` when there is none yet: the first version is the baseline): its
  offline metric is not worse than the champion's, within a tolerance for the noise between two
  training windows (ALS: held-out NDCG@10 of the time split each was trained with);
- to `canary`: the shadow's agreement with the champion within bounds;
- to `champion`: only from `canary`, when the canary's guardrails pass over a minimum sample.

The shadow's evidence is what the service records (quarry/shadow.py); the canary's is its traffic
against the champion's over the same window (quarry/canary.py, judged by pipelines/registry/canary.py).
"""

from __future__ import annotations

import msgspec

from pipelines.registry import canary
from pipelines.registry.registry import ModelRegistry
from quarry.adapters.search_engine import SearchEngine
from quarry.model_aliases import CANARY, CHAMPION, SHADOW
from quarry.shadow import INDEX as SHADOW_INDEX

OFFLINE_METRICS = {"als": "heldout_ndcg_at_10", "ltr": "cv_golden_ndcg_at_10"}
"""Per artifact: the metric its metadata records, higher is better."""
FLOOR_METRICS = {"ltr": "cv_formula_golden_ndcg_at_10"}
"""Per artifact: what the version must beat before anything else, recorded on the same examples (the
LTR model against the formula it would replace: its first version has no champion to compare with,
but the formula ranks until then)."""
SAME_SPLIT_METRICS = {"als": "heldout_served_ndcg_at_10"}
"""Per artifact: the metric a candidate records for itself and for the champion on the same split
(`champion_<metric>`, with `compared_with` naming that champion); preferred when present, since each
version's own metric comes from its own window (pipelines/recommend/train.py ServedAs)."""
TOLERANCE = {"als": 0.01}
SHADOW_MIN_SAMPLE = 200
SHADOW_MIN_OVERLAP = 0.5
"""A retrained model agrees with the one it replaces on at least half of a top 10, on average: less
is a different model, which has to prove itself on a canary first anyway, but not by surprise."""
SHADOW_MAX_ERRORS = 0.01


class GateDecision(msgspec.Struct, frozen=True):
    passed: bool
    stage: str
    reasons: list[str]
    waiting: bool = False
    """Not passed because the evidence is not in yet (too few comparisons or requests), as opposed
    to evidence against the version."""
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    """What the stage measured, by name, for the version's record (the golden gate's scores of the
    candidate and of the champion in the same run); empty when the stage only read recorded ones."""


def baseline(registry: ModelRegistry, name: str, version: str, stage: str) -> GateDecision | None:
    """A pass with nothing to compare (no champion yet, or it is the champion); None otherwise."""
    champion = registry.aliases(name).get(CHAMPION)
    if champion is None:
        return GateDecision(True, stage, ["no champion yet: the first version is the baseline"])
    if champion == version:
        return GateDecision(True, stage, ["it is the champion"])
    return None


def promote_when_passed(
    registry: ModelRegistry, name: str, version: str, to: str, decision: GateDecision
) -> bool:
    """Move `to` to the version when the gate passed, with the gate's findings as the reason."""
    if decision.passed:
        registry.set_alias(name, to, version, reason=f"{decision.stage} gate: {'; '.join(decision.reasons)}")
    return decision.passed


def offline(registry: ModelRegistry, name: str, version: str) -> GateDecision:
    floor = FLOOR_METRICS.get(name)
    if floor is not None:
        recorded = registry.show(name, version).get("metrics", {})
        value, bar = recorded.get(OFFLINE_METRICS[name]), recorded.get(floor)
        if value is None or bar is None or float(value) <= float(bar):
            return GateDecision(
                False,
                "offline",
                [f"{OFFLINE_METRICS[name]} {value} does not beat {floor} {bar} (same examples)"],
            )
    first = baseline(registry, name, version, "offline")
    if first is not None:
        return first
    champion = registry.aliases(name)[CHAMPION]
    metric = OFFLINE_METRICS.get(name)
    if metric is None:
        return GateDecision(
            False, "offline", [f"no offline metric is defined for {name}: promote with --force"]
        )
    record = registry.show(name, version)
    recorded = record.get("metrics", {})
    served = SAME_SPLIT_METRICS.get(name)
    if served and recorded.get(f"champion_{served}") is not None and record.get("compared_with") == champion:
        metric = served
        candidate_value, champion_value = recorded.get(served), recorded[f"champion_{served}"]
        basis = "both as served, on the candidate's held-out split"
    else:
        candidate_value = recorded.get(metric)
        champion_value = registry.show(name, champion).get("metrics", {}).get(metric)
        basis = "each on its own window"
    if candidate_value is None:
        return GateDecision(False, "offline", [f"{version} records no {metric}"])
    if champion_value is None:
        return GateDecision(
            True, "offline", [f"the champion {champion} records no {metric}: nothing to compare"]
        )
    tolerance = TOLERANCE.get(name, 0.0)
    passed = float(candidate_value) >= float(champion_value) - tolerance
    comparison = ">=" if passed else "<"
    return GateDecision(
        passed,
        "offline",
        [
            f"{metric} {candidate_value:.4f} {comparison} champion's {champion_value:.4f} - {tolerance}"
            f" ({basis})"
        ],
    )


def shadow(engine: SearchEngine | None, name: str, version: str) -> GateDecision:
    """The shadow's comparisons with the champion on live requests (quarry-shadow)."""
    if engine is None or not engine.index_exists(SHADOW_INDEX):
        return GateDecision(False, "shadow", ["no shadow comparisons recorded yet"], waiting=True)
    engine.refresh(SHADOW_INDEX)  # what the service wrote in the last second counts too
    found = engine.search(
        SHADOW_INDEX,
        {
            "size": 0,
            "query": {
                "bool": {"filter": [{"term": {"artifact": name}}, {"term": {"shadow_version": version}}]}
            },
            "aggs": {
                "outcomes": {"terms": {"field": "outcome"}},
                "overlap": {"avg": {"field": "overlap_at_10"}},
                "correlation": {"avg": {"field": "rank_correlation"}},
            },
        },
    )
    outcomes = {b["key"]: b["doc_count"] for b in found.aggregations.get("outcomes", {}).get("buckets", [])}
    compared, errors = outcomes.get("compared", 0), outcomes.get("error", 0)
    overlap = found.aggregations.get("overlap", {}).get("value")
    reasons = [f"{compared} comparisons (need {SHADOW_MIN_SAMPLE}), {errors} errors"]
    if compared < SHADOW_MIN_SAMPLE or overlap is None:
        return GateDecision(False, "shadow", reasons, waiting=True)
    error_rate = errors / (compared + errors)
    reasons.append(f"mean overlap@10 {overlap:.3f} (need {SHADOW_MIN_OVERLAP}), error rate {error_rate:.2%}")
    correlation = found.aggregations.get("correlation", {}).get("value")
    if correlation is not None:
        reasons.append(f"mean rank correlation {correlation:.3f}")
    passed = overlap >= SHADOW_MIN_OVERLAP and error_rate <= SHADOW_MAX_ERRORS
    return GateDecision(passed, "shadow", reasons)


def canary_stage(
    sources: canary.CanarySources | None, name: str, version: str, policy: canary.CanaryPolicy
) -> GateDecision:
    if sources is None:
        return GateDecision(False, "canary", ["no cluster to read the canary's traffic from"])
    report = canary.evaluate(sources, name, version, policy)
    return GateDecision(
        report.verdict == "passed",
        "canary",
        [f"verdict {report.verdict}", *report.reasons],
        waiting=report.verdict == "watching",
    )


def decide(
    registry: ModelRegistry,
    name: str,
    version: str,
    to: str,
    engine: SearchEngine | None = None,
    policy: canary.CanaryPolicy | None = None,
    events: canary.CanarySources | None = None,
) -> GateDecision:
    """The gate for moving `version` to alias `to` (candidate needs none). `engine`: where the
    shadow's comparisons and the canary's records are (the search cluster); `policy`: the canary's
    guardrails; `events`: where the canary's evidence is, when the UBI events are elsewhere."""
    aliases = registry.aliases(name)
    if to == CHAMPION and aliases.get(CANARY) == version:
        sources = events or (canary.CanarySources(engine, engine) if engine is not None else None)
        return canary_stage(sources, name, version, policy or canary.CanaryPolicy())
    if to == SHADOW or (to == CHAMPION and aliases.get(CHAMPION) in (None, version)):
        return offline(registry, name, version)
    if to == CANARY:
        return shadow(engine, name, version)
    if to == CHAMPION:
        first = offline(registry, name, version)
        if not first.passed:
            return first
        return GateDecision(
            False,
            "canary",
            [f"{version} is not the canary: a champion comes from the canary (via shadow), or --force"],
        )
    return GateDecision(True, "none", [f"{to} needs no evidence"])

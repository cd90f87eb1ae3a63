"""The promotion gate every path through the registry uses (`python -m pipelines models promote`
and the DAGs): a version moves up only when the evidence of its stage says it is no worse.

- to `shadow` (or straight to `champion` on the offline path): its offline metric is not worse than
  the champion's, within a tolerance for the noise between two training windows (ALS: held-out
  NDCG@10 of the time split each was trained with);
- to `canary`: the shadow's agreement with the champion within bounds;
- to `champion` from `canary`: the canary's guardrails over a minimum sample.

The shadow and canary evidence arrives with the service's shadow and canary traffic
(docs/model-lifecycle.md says what is in place); until then those stages refuse, and the DAGs use
the offline path.
"""

from __future__ import annotations

import msgspec

from pipelines.registry.registry import ModelRegistry
from quarry.model_aliases import CANARY, CHAMPION, SHADOW

OFFLINE_METRICS = {"als": "heldout_ndcg_at_10"}
"""Per artifact: the metric its metadata records, higher is better."""
TOLERANCE = {"als": 0.01}


class GateDecision(msgspec.Struct, frozen=True):
    passed: bool
    stage: str
    reasons: list[str]


def offline(registry: ModelRegistry, name: str, version: str) -> GateDecision:
    champion = registry.aliases(name).get(CHAMPION)
    metric = OFFLINE_METRICS.get(name)
    if champion is None:
        return GateDecision(True, "offline", ["no champion yet: the first version is the baseline"])
    if champion == version:
        return GateDecision(True, "offline", ["it is the champion"])
    if metric is None:
        return GateDecision(
            False, "offline", [f"no offline metric is defined for {name}: promote with --force"]
        )
    candidate_value = registry.show(name, version).get("metrics", {}).get(metric)
    champion_value = registry.show(name, champion).get("metrics", {}).get(metric)
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
        [f"{metric} {candidate_value:.4f} {comparison} champion's {champion_value:.4f} - {tolerance}"],
    )


def decide(registry: ModelRegistry, name: str, version: str, to: str) -> GateDecision:
    """The gate for moving `version` to alias `to` (candidate needs none)."""
    if to in (SHADOW, CHAMPION) and registry.aliases(name).get(CANARY) != version:
        return offline(registry, name, version)
    if to == CANARY:
        return GateDecision(False, "shadow", ["no shadow agreement measured for this version yet"])
    if to == CHAMPION:
        return GateDecision(False, "canary", ["no canary guardrails measured for this version yet"])
    return GateDecision(True, "none", [f"{to} needs no evidence"])

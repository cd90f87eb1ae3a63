"""The registry's watch: moves versions along candidate -> shadow -> canary -> champion as their
evidence comes in, and rolls a canary back the moment a guardrail breaks (the `model_promotion` DAG
runs it every 10 minutes; `python -m pipelines models watch` once).

Per artifact, each run:
- a live canary is judged (pipelines/registry/canary.py): breached, the canary alias is removed with
  the guardrails' findings as the recorded reason (the champion never changed, so nothing else moves);
  passed, it becomes champion through the gate's canary stage; otherwise it keeps running;
- with no canary, a shadow whose comparisons pass the gate's shadow stage becomes the canary; one
  whose comparisons are in and fail it is dropped, with the reason.

Every move goes through ModelRegistry.set_alias, so it is in the alias log and the MLflow mirror.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec

from pipelines.registry import canary, gate
from pipelines.registry.registry import ROLLBACK, ModelRegistry
from quarry.model_aliases import CANARY, CHAMPION, SHADOW

log = logging.getLogger("pipelines.registry")
Action = Literal["none", "canary_rolled_back", "shadow_dropped", "to_canary", "to_champion"]


class WatchOutcome(msgspec.Struct, frozen=True):
    artifact: str
    version: str | None
    action: Action
    reasons: list[str]


def watch_one(
    registry: ModelRegistry, sources: canary.CanarySources, name: str, policy: canary.CanaryPolicy
) -> WatchOutcome:
    aliases = registry.aliases(name)
    on_canary = aliases.get(CANARY)
    if on_canary is not None:
        report = canary.evaluate(sources, name, on_canary, policy)
        if report.verdict == "breached":
            why = "; ".join(report.reasons)
            registry.set_alias(name, CANARY, None, reason=f"{ROLLBACK}canary {on_canary}: {why}")
            log.error(
                "canary rolled back",
                extra={"artifact": name, "version": on_canary, "reasons": report.reasons},
            )
            return WatchOutcome(name, on_canary, "canary_rolled_back", report.reasons)
        if report.verdict == "passed":
            registry.set_alias(name, CHAMPION, on_canary, reason=f"canary gate: {'; '.join(report.reasons)}")
            registry.set_alias(name, CANARY, None, reason="promoted to champion")
            return WatchOutcome(name, on_canary, "to_champion", report.reasons)
        return WatchOutcome(name, on_canary, "none", report.reasons)
    on_shadow = aliases.get(SHADOW)
    if on_shadow is None:
        return WatchOutcome(name, None, "none", ["no shadow or canary version"])
    if on_shadow == aliases.get(CHAMPION):
        registry.set_alias(name, SHADOW, None, reason="it is the champion already")
        return WatchOutcome(name, on_shadow, "none", ["the shadow was the champion already: dropped"])
    decision = gate.decide(registry, name, on_shadow, CANARY, sources.records)
    if decision.passed:
        registry.set_alias(name, CANARY, on_shadow, reason=f"shadow gate: {'; '.join(decision.reasons)}")
        registry.set_alias(name, SHADOW, None, reason="moved on to canary")
        return WatchOutcome(name, on_shadow, "to_canary", decision.reasons)
    if not decision.waiting:
        why = "; ".join(decision.reasons)
        registry.set_alias(name, SHADOW, None, reason=f"{ROLLBACK}shadow {on_shadow}: {why}")
        return WatchOutcome(name, on_shadow, "shadow_dropped", decision.reasons)
    return WatchOutcome(name, on_shadow, "none", decision.reasons)


ROLLBACK_METRIC = "quarry_model_last_rollback_timestamp_seconds"


def push_rollbacks(outcomes: list[WatchOutcome], url: str) -> None:
    """A rollback as a last-event timestamp per artifact and alias (the Pushgateway's pattern for
    batch jobs, as for task outcomes)."""
    import time

    from prometheus_client import CollectorRegistry, Gauge

    from pipelines.orchestration.callbacks import JOB, push

    for outcome in outcomes:
        if not url or outcome.action not in ("canary_rolled_back", "shadow_dropped"):
            continue
        registry = CollectorRegistry()
        alias = CANARY if outcome.action == "canary_rolled_back" else SHADOW
        gauge = Gauge(
            ROLLBACK_METRIC, "When the registry last rolled a version back (Unix time)", registry=registry
        )
        gauge.set(time.time())
        push(url, JOB, registry, {"artifact": outcome.artifact, "alias": alias})

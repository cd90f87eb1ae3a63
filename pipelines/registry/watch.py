"""The registry's watch: moves versions along candidate -> shadow -> canary -> champion as their
evidence comes in, and rolls a canary back the moment a guardrail breaks (the `model_promotion` DAG
runs it every 10 minutes; `python -m pipelines models watch` once).

Per artifact, each run:
- a live canary goes through the gate's canary stage (its guardrails, pipelines/registry/canary.py):
  breached, the canary alias is removed with the findings as the recorded reason (the champion never
  changed, so nothing else moves); passed, it becomes champion; otherwise it keeps running;
- with no canary, a shadow goes through the gate's shadow stage: passed, it becomes the canary; its
  comparisons in and failing, it is dropped with the reason.

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


ROLLED_BACK: dict[str, Action] = {CANARY: "canary_rolled_back", SHADOW: "shadow_dropped"}
MOVED: dict[str, Action] = {CANARY: "to_canary", CHAMPION: "to_champion"}


def watch_one(
    registry: ModelRegistry, sources: canary.CanarySources, name: str, policy: canary.CanaryPolicy
) -> WatchOutcome:
    aliases = registry.aliases(name)
    if (on_canary := aliases.get(CANARY)) is not None:
        return _advance(registry, sources, policy, name, on_canary, CANARY, CHAMPION)
    on_shadow = aliases.get(SHADOW)
    if on_shadow is None:
        return WatchOutcome(name, None, "none", ["no shadow or canary version"])
    if on_shadow == aliases.get(CHAMPION):
        registry.set_alias(name, SHADOW, None, reason="it is the champion already")
        return WatchOutcome(name, on_shadow, "none", ["the shadow was the champion already: dropped"])
    return _advance(registry, sources, policy, name, on_shadow, SHADOW, CANARY)


def _advance(
    registry: ModelRegistry,
    sources: canary.CanarySources,
    policy: canary.CanaryPolicy,
    name: str,
    version: str,
    stage: str,
    to: str,
) -> WatchOutcome:
    """The version on `stage` moves on to `to` when the gate passes, is rolled back when its
    evidence is in and against it, and waits otherwise."""
    decision = gate.decide(registry, name, version, to, sources.records, policy, sources)
    if gate.promote_when_passed(registry, name, version, to, decision):
        registry.set_alias(name, stage, None, reason=f"moved on to {to}")
        return WatchOutcome(name, version, MOVED[to], decision.reasons)
    if decision.waiting:
        return WatchOutcome(name, version, "none", decision.reasons)
    why = "; ".join(decision.reasons)
    registry.set_alias(name, stage, None, reason=f"{ROLLBACK}{stage} {version}: {why}")
    if stage == CANARY:
        log.error(
            "canary rolled back", extra={"artifact": name, "version": version, "reasons": decision.reasons}
        )
    return WatchOutcome(name, version, ROLLED_BACK[stage], decision.reasons)


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

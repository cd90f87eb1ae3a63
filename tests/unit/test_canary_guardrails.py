"""The canary's statistics and verdict rules (pipelines/registry/canary.py), on counts worked out by
hand."""

from __future__ import annotations

import pytest

from pipelines.registry import canary
from pipelines.registry.canary import VariantTraffic, worse_p_value


def test_the_one_sided_p_value_matches_a_hand_computed_z_test() -> None:
    # 60/1000 vs 40/1000: pooled 0.05, standard error sqrt(0.05 * 0.95 * 2/1000) = 0.0097468,
    # z = 0.02 / 0.0097468 = 2.0520, one-sided p = 0.02008 (normal table).
    assert worse_p_value(60, 1000, 40, 1000) == pytest.approx(0.02008, abs=2e-4)
    # The canary doing better is no evidence that it is worse.
    assert worse_p_value(40, 1000, 60, 1000) == pytest.approx(1 - 0.02008, abs=2e-4)
    assert worse_p_value(0, 0, 5, 100) is None
    assert worse_p_value(0, 100, 0, 100) == 1.0  # nothing bad on either side


def traffic(
    requests: int, clicked: int, *, errors: int = 0, empty: int = 0, p95: float = 10.0
) -> VariantTraffic:
    return VariantTraffic(requests, errors, empty, p95, clicked, clicked // 3)


POLICY = canary.CanaryPolicy(min_requests=1000)


def guardrail(name: str, champion: VariantTraffic, candidate: VariantTraffic, sampled: bool = True):
    rails = {g.name: g for g in canary.guardrails(champion, candidate, POLICY, sampled)}
    return rails[name]


def test_a_significant_drop_in_ctr_beyond_the_margin_breaches() -> None:
    assert guardrail("CTR", traffic(2000, 400), traffic(2000, 300)).breached  # 20 % -> 15 %
    # Significant with this much traffic, but a 5 % relative drop is within the margin.
    assert not guardrail("CTR", traffic(200_000, 40_000), traffic(200_000, 38_000)).breached
    # Beyond the margin but on little traffic: not significant, no rollback on noise.
    assert not guardrail("CTR", traffic(60, 12), traffic(60, 8)).breached


def test_before_the_minimum_sample_only_strong_evidence_breaches() -> None:
    champion, worse = traffic(400, 80), traffic(400, 58)  # 20 % -> 14.5 %: p about 0.02
    assert not guardrail("CTR", champion, worse, sampled=False).breached
    assert guardrail("CTR", traffic(400, 80), traffic(400, 20), sampled=False).breached  # plainly broken


def test_errors_empty_answers_and_latency_are_judged_against_the_champion() -> None:
    assert guardrail("error rate", traffic(1000, 200), traffic(1000, 200, errors=30)).breached
    assert not guardrail("error rate", traffic(1000, 200, errors=30), traffic(1000, 200, errors=30)).breached
    assert guardrail("zero-result rate", traffic(1000, 200, empty=10), traffic(1000, 200, empty=80)).breached
    assert guardrail("p95 latency", traffic(1000, 200, p95=10.0), traffic(1000, 200, p95=40.0)).breached
    # 1.5 x of a tiny latency is within the 5 ms floor: machine noise, not a slower model.
    assert not guardrail("p95 latency", traffic(1000, 200, p95=2.0), traffic(1000, 200, p95=4.0)).breached
    assert not guardrail(
        "p95 latency", traffic(10, 2, p95=10.0), traffic(10, 2, p95=40.0), sampled=False
    ).breached

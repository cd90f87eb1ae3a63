"""The canary's statistics and verdict rules (pipelines/registry/canary.py), on counts worked out by
hand."""

from __future__ import annotations

import msgspec
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


def test_the_clustered_variance_and_p_value_match_a_hand_computation() -> None:
    # Three shoppers of 10 requests clicking 9, 8 and 1: rate 18/30 = 0.6, residuals c - 0.6 n of
    # 3, 2 and -5, whose squares sum to 38; times K/(K-1) = 1.5, over 30^2: 0.063333.
    assert canary.rate_variance(18, 30, 3, 81 + 64 + 1, 90 + 80 + 10, 300) == pytest.approx(
        0.063333, abs=1e-6
    )
    # Against 5, 4 and 3 clicks (rate 0.4, residuals 1, 0, -1: variance 1.5 * 2 / 900): z = 0.2 /
    # sqrt(0.066667) = 0.7746, one-sided p = 0.2193 (normal table). Per request it would be 0.061.
    assert canary.drop_p_value((18, 30, 0.063333), (12, 30, 0.0033333)) == pytest.approx(0.2193, abs=2e-4)
    assert canary.rate_variance(5, 10, 1, 25, 50, 100) is None  # one shopper: no spread to measure


def shoppers(clicks: list[int], requests_each: int = 40) -> VariantTraffic:
    """Shoppers of `requests_each` requests, clicking these many of them."""
    n = requests_each
    k = len(clicks)
    sums = canary.UnitSums(k, k * n, k * n * n, sum(c * c for c in clicks), sum(c * n for c in clicks), 0, 0)
    return VariantTraffic(len(clicks) * n, 0, 0, 10.0, sum(clicks), 0, sums)


def test_ctr_is_judged_per_shopper_so_who_landed_where_is_no_breach() -> None:
    """Champion: five heavy clickers (36 of 40) and five light ones (20 of 40), CTR 70 %. Canary: two
    heavy and eight light, 58 %. Per request that is p = 0.0002 (a breach); per shopper the spread
    between shoppers explains it: variances 10/9 * 640 / 400^2 and 10/9 * 409.6 / 400^2, z = 1.406,
    p = 0.080."""
    champion, candidate = shoppers([36] * 5 + [20] * 5), shoppers([36] * 2 + [20] * 8)
    rail = guardrail("CTR", champion, candidate)
    assert rail.p_value == pytest.approx(0.080, abs=1e-3) and not rail.breached
    per_request = guardrail(
        "CTR",
        msgspec.structs.replace(champion, by_unit=None),
        msgspec.structs.replace(candidate, by_unit=None),
    )
    assert per_request.breached and per_request.p_value < 0.001
    # Every shopper of the canary clicking less is a breach per shopper too.
    assert guardrail("CTR", champion, shoppers([30] * 2 + [14] * 8)).breached


def test_one_shopper_a_side_is_no_evidence_of_a_drop() -> None:
    """Per shopper, one shopper has no spread to measure: not a breach, however their rates differ
    (per request, 40 requests a side would have been "significant")."""
    assert not guardrail("CTR", shoppers([36]), shoppers([10])).breached

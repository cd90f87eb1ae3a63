"""bench-search's CPU budget: what a concurrency-16 p95 goal would take per request.

The expected figures are worked by hand in the comments (Little's law: mean = concurrency / QPS)."""

from __future__ import annotations

import pytest

from pipelines.bench.budget import CpuBudget, cpu_budget
from pipelines.bench.search_bench import Latency, c16_budgets, median_budgets


def budget(
    qps: float = 800,
    p95_ms: float = 40,
    target_p95_ms: float = 20,
    api_cpu_ms: float = 1.5,
    opensearch_cpu_ms: float = 1.0,
    api_floor_ms: float | None = None,
) -> CpuBudget:
    """The worked example at concurrency 16 (800 QPS: mean 20 ms); arguments change any figure."""
    return cpu_budget("api", 16, qps, p95_ms, target_p95_ms, api_cpu_ms, opensearch_cpu_ms, api_floor_ms)


def test_a_missed_goal_leaves_the_api_less_than_it_uses() -> None:
    # mean 16 / 800 = 20 ms, p95 40 ms: ratio 2; target 20 ms -> 16 * 2 / 20 ms = 1,600 QPS;
    # 2.5 ms per request at 800 QPS -> 1.25 ms at 1,600; minus OpenSearch's 1.0 ms -> 0.25 ms.
    result = budget(api_floor_ms=0.2)
    assert result.tail_ratio == pytest.approx(2.0)
    assert result.required_qps == pytest.approx(1600)
    assert result.required_cpu_ms == pytest.approx(1.25)
    assert result.api_budget_ms == pytest.approx(0.25)
    assert result.api_budget_ms < result.api_cpu_ms
    assert result.api_floor_ms == 0.2


def test_a_met_goal_leaves_room_above_what_the_api_uses() -> None:
    # mean 20 ms, p95 30 ms: ratio 1.5; target 40 ms -> 16 * 1.5 / 40 ms = 600 QPS would do;
    # 2.5 ms * 800 / 600 = 3.333 ms per request; minus OpenSearch's 1.0 ms -> 2.333 ms for the API.
    result = budget(p95_ms=30, target_p95_ms=40)
    assert result.required_qps == pytest.approx(600)
    assert result.api_budget_ms == pytest.approx(2.333, abs=1e-3)
    assert result.api_budget_ms > result.api_cpu_ms


def test_a_budget_is_negative_when_opensearch_alone_is_over_it() -> None:
    # as in the first case (1.25 ms per request needed), but OpenSearch takes 2.0 ms by itself
    result = budget(api_cpu_ms=0.5, opensearch_cpu_ms=2.0)
    assert result.api_budget_ms == pytest.approx(-0.75)


@pytest.mark.parametrize(("qps", "p95", "target"), [(0, 40, 20), (800, 0, 20), (800, 40, 0)])
def test_a_budget_needs_positive_measurements(qps: float, p95: float, target: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        budget(qps=qps, p95_ms=p95, target_p95_ms=target)


def _row(system: str, number: int, qps: float, p95: float, api: float | None, node: float | None) -> Latency:
    return Latency(system, "wrk", 16, 1000, 0, qps, p95 / 2, p95, p95 * 1.5, api, node, number)


def test_each_round_gets_its_own_budget_and_the_median_is_a_whole_round() -> None:
    rounds = [
        # round 1: raw p95 5 -> target 20; keyword: mean 16/800 = 20 ms, p95 40: ratio 2 -> 1,600 QPS;
        # 2.5 ms * 800 / 1,600 = 1.25 ms; minus 1.0 -> API 0.25 ms; floor from round 1's cached row
        _row("raw_opensearch", 1, 4000, 5, None, 0.4),
        _row("api_uncached_keyword", 1, 800, 40, 1.5, 1.0),
        _row("api_cached", 1, 6000, 8, 0.2, 0.05),
        # round 2: raw p95 25 -> target 40; ratio 2 -> 16 * 2 / 40 ms = 800 QPS: 2.5 ms, API 1.5 ms
        _row("raw_opensearch", 2, 4000, 25, None, 0.4),
        _row("api_uncached_keyword", 2, 800, 40, 1.5, 1.0),
        _row("api_cached", 2, 6000, 8, 0.3, 0.05),
        # round 3: target 20 again, but QPS 400: mean 40 ms, p95 40 -> ratio 1 -> 800 QPS: 1.25 ms;
        # API allowance 0.25 ms; no CPU measured for hybrid: no budget
        _row("raw_opensearch", 3, 4000, 5, None, 0.4),
        _row("api_uncached_keyword", 3, 400, 40, 1.5, 1.0),
        _row("api_uncached_hybrid", 3, 300, 80, None, None),
        _row("api_cached", 3, 6000, 8, 0.25, 0.05),
    ]
    budgets = c16_budgets(rounds)
    assert [(b.system, b.round) for b in budgets] == [("api_uncached_keyword", n) for n in (1, 2, 3)]
    first, second, third = budgets
    assert (first.target_p95_ms, first.api_budget_ms, first.api_floor_ms) == (20, pytest.approx(0.25), 0.2)
    assert (second.target_p95_ms, second.api_budget_ms, second.api_floor_ms) == (40, pytest.approx(1.5), 0.3)
    assert third.required_qps == pytest.approx(800) and third.api_budget_ms == pytest.approx(0.25)
    # allowances 0.25, 1.5, 0.25: the median is one of the 0.25 rounds, taken whole
    assert median_budgets(budgets)["api_uncached_keyword"].api_budget_ms == pytest.approx(0.25)

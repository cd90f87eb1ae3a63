"""bench-search's CPU budget: what a concurrency-16 p95 goal would take per request.

The expected figures are worked by hand in the comments (Little's law: mean = concurrency / QPS)."""

from __future__ import annotations

import pytest

from pipelines.bench.budget import cpu_budget


def test_a_missed_goal_leaves_the_api_less_than_it_uses() -> None:
    # mean 16 / 800 = 20 ms, p95 40 ms: ratio 2; target 20 ms -> 16 * 2 / 20 ms = 1,600 QPS;
    # 2.5 ms per request at 800 QPS -> 1.25 ms at 1,600; minus OpenSearch's 1.0 ms -> 0.25 ms.
    budget = cpu_budget(
        "api",
        16,
        qps=800,
        p95_ms=40,
        target_p95_ms=20,
        api_cpu_ms=1.5,
        opensearch_cpu_ms=1.0,
        api_floor_ms=0.2,
    )
    assert budget.tail_ratio == pytest.approx(2.0)
    assert budget.required_qps == pytest.approx(1600)
    assert budget.required_cpu_ms == pytest.approx(1.25)
    assert budget.api_budget_ms == pytest.approx(0.25)
    assert budget.api_budget_ms < budget.api_cpu_ms
    assert budget.api_floor_ms == 0.2


def test_a_met_goal_leaves_room_above_what_the_api_uses() -> None:
    # mean 20 ms, p95 10 ms: ratio 0.5 -> 400 QPS would do; 2.5 ms * 800 / 400 = 5 ms; budget 4 ms.
    budget = cpu_budget(
        "api",
        16,
        qps=800,
        p95_ms=10,
        target_p95_ms=20,
        api_cpu_ms=1.5,
        opensearch_cpu_ms=1.0,
        api_floor_ms=None,
    )
    assert budget.required_qps == pytest.approx(400)
    assert budget.api_budget_ms == pytest.approx(4.0)
    assert budget.api_budget_ms > budget.api_cpu_ms


def test_a_budget_is_negative_when_opensearch_alone_is_over_it() -> None:
    # as in the first case (1.25 ms per request needed), but OpenSearch takes 2.0 ms by itself
    budget = cpu_budget(
        "api",
        16,
        qps=800,
        p95_ms=40,
        target_p95_ms=20,
        api_cpu_ms=0.5,
        opensearch_cpu_ms=2.0,
        api_floor_ms=None,
    )
    assert budget.api_budget_ms == pytest.approx(-0.75)


@pytest.mark.parametrize(("qps", "p95", "target"), [(0, 40, 20), (800, 0, 20), (800, 40, 0)])
def test_a_budget_needs_positive_measurements(qps: float, p95: float, target: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        cpu_budget(
            "api",
            16,
            qps=qps,
            p95_ms=p95,
            target_p95_ms=target,
            api_cpu_ms=1.0,
            opensearch_cpu_ms=1.0,
            api_floor_ms=None,
        )

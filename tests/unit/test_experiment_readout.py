"""Guardrail breaches in the readout (quarry/experiments/readout.py): a guardrail the variant made
significantly worse is flagged, in the direction that is worse for that metric."""

from __future__ import annotations

import pytest

from quarry.experiments.readout import MetricComparison, flagged


def row(metric: str, effect: float, significant: bool = True, per: str = "user") -> MetricComparison:
    return MetricComparison(
        metric, per, "treatment", 0.5, 0.5 + effect, effect, effect - 0.01, effect + 0.01, 0.001, significant
    )


@pytest.mark.parametrize(
    ("metric", "effect", "breached"),
    [
        ("latency", +12.0, True),  # slower
        ("latency", -3.0, False),
        ("zero_result_rate", +0.02, True),
        ("ctr", -0.03, True),  # fewer clicks
        ("ctr", +0.03, False),
        ("revenue_per_user", -1.5, True),
    ],
)
def test_a_guardrail_is_breached_only_when_significantly_worse(
    metric: str, effect: float, breached: bool
) -> None:
    assert flagged(row(metric, effect), [metric]).guardrail_breached is breached


def test_a_metric_that_is_not_a_guardrail_or_not_significant_is_never_flagged() -> None:
    assert not flagged(row("latency", +12.0), ["ctr"]).guardrail_breached
    assert not flagged(row("latency", +12.0, significant=False), ["latency"]).guardrail_breached
    per_search = row("revenue_per_search", -2.0, per="search")
    assert flagged(per_search, ["revenue_per_user"]).guardrail_breached  # the guardrail covers both rows

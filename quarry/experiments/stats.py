"""The statistics of an online experiment (issue 18, docs/experiments.md): how a variant's rate or mean
differs from control's, with a confidence interval; whether the traffic split itself is broken
(sample-ratio mismatch); how much pre-period data narrows the interval (CUPED); how many units a test
needs; and an always-valid test that may be looked at after every batch without inflating false
positives.

Everything here is a pure function of counts or samples, so the experiment report, the dashboard and
the simulations share one implementation. scipy provides the distributions only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np


def _distributions() -> Any:  # scipy has no type hints
    """scipy.stats, imported when a test statistic is first computed: it takes about a second, which
    every API worker would otherwise pay at start-up for a dashboard page few people open."""
    from scipy import stats

    return stats


# A split is called broken at this p-value (the convention of experimentation platforms: a
# mismatch this unlikely is a bug in assignment or logging, not chance).
SRM_ALPHA = 0.001


class Comparison(msgspec.Struct, frozen=True):
    """Variant minus control: the effect, its two-sided confidence interval and p-value."""

    control: float
    variant: float
    effect: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    confidence: float

    @property
    def relative_effect(self) -> float | None:
        """The effect as a share of control's value (None when control is 0)."""
        return self.effect / self.control if self.control else None

    def significant(self) -> bool:
        return self.p_value < 1.0 - self.confidence


def _compared(
    control: float, variant: float, margin: float, statistic: float, p_value: float, confidence: float
) -> Comparison:
    effect = variant - control
    return Comparison(
        control, variant, effect, effect - margin, effect + margin, statistic, p_value, confidence
    )


def pooled_z(successes_control: int, n_control: int, successes_variant: int, n_variant: int) -> float | None:
    """The z statistic of variant's rate minus control's under the null that they are equal (the
    pooled rate's standard error); None when that error is 0 (both rates 0, or both 1)."""
    pooled = (successes_control + successes_variant) / (n_control + n_variant)
    null_se = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_variant))
    if null_se == 0:
        return None
    return (successes_variant / n_variant - successes_control / n_control) / null_se


def two_proportions(
    successes_control: int, n_control: int, successes_variant: int, n_variant: int, confidence: float = 0.95
) -> Comparison:
    """Two-proportion z-test (CTR, add-to-cart rate, conversion rate per unit). The test statistic
    uses the pooled rate (the null hypothesis says they are equal); the interval the unpooled
    standard error (the effect is estimated, not assumed zero)."""
    if min(n_control, n_variant) <= 0:
        raise ValueError("both variants need at least one unit")
    if not (0 <= successes_control <= n_control and 0 <= successes_variant <= n_variant):
        raise ValueError("successes must be between 0 and the number of units")
    rate_control, rate_variant = successes_control / n_control, successes_variant / n_variant
    z = pooled_z(successes_control, n_control, successes_variant, n_variant)
    se = math.sqrt(
        rate_control * (1 - rate_control) / n_control + rate_variant * (1 - rate_variant) / n_variant
    )
    p_value = float(2 * _distributions().norm.sf(abs(z))) if z is not None else 1.0
    margin = float(_distributions().norm.ppf(0.5 + confidence / 2)) * se
    return _compared(rate_control, rate_variant, margin, z or 0.0, p_value, confidence)


def welch(control: Sequence[float], variant: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Welch's t-test on two samples of a per-unit metric (revenue, searches per user): no assumption
    that the variants' variances are equal; degrees of freedom by Welch-Satterthwaite."""
    a, b = np.asarray(control, dtype=np.float64), np.asarray(variant, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each variant needs at least two units")
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    effect = float(b.mean() - a.mean())
    se = math.sqrt(var_a + var_b)
    if se == 0:  # neither sample varies: the difference is exact
        if effect == 0:
            return _compared(float(a.mean()), float(b.mean()), 0.0, 0.0, 1.0, confidence)
        return _compared(
            float(a.mean()), float(b.mean()), 0.0, math.copysign(math.inf, effect), 0.0, confidence
        )
    dof = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    t = effect / se
    p_value = float(2 * _distributions().t.sf(abs(t), dof))
    margin = float(_distributions().t.ppf(0.5 + confidence / 2, dof)) * se
    return _compared(float(a.mean()), float(b.mean()), margin, t, p_value, confidence)


class Cuped(msgspec.Struct, frozen=True):
    """CUPED (Deng et al., 2013): each unit's metric less theta times its pre-period covariate's
    deviation from the mean. Theta is fitted on both variants together, so the adjustment is the same
    for both and the effect stays unbiased; the variance falls by the squared correlation."""

    theta: float
    control: list[float]
    variant: list[float]


def cuped(
    control: Sequence[float],
    control_before: Sequence[float],
    variant: Sequence[float],
    variant_before: Sequence[float],
) -> Cuped:
    """The adjusted samples; `*_before` is each unit's same metric in the pre-period (0 for a unit
    new in the experiment)."""
    if len(control) != len(control_before) or len(variant) != len(variant_before):
        raise ValueError("each unit needs its pre-period value")
    y = np.asarray([*control, *variant], dtype=np.float64)
    x = np.asarray([*control_before, *variant_before], dtype=np.float64)
    variance = x.var(ddof=1) if len(x) > 1 else 0.0
    theta = float(np.cov(x, y, ddof=1)[0, 1] / variance) if variance > 0 else 0.0
    adjusted = y - theta * (x - x.mean())
    split = len(control)
    return Cuped(theta, adjusted[:split].tolist(), adjusted[split:].tolist())


class SampleRatio(msgspec.Struct, frozen=True):
    """Chi-square goodness of fit of the units each variant got against the shares it was meant to."""

    observed: list[int]
    expected: list[float]
    chi_square: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def sample_ratio(observed: Sequence[int], shares: Sequence[float]) -> SampleRatio:
    if len(observed) != len(shares) or len(observed) < 2:
        raise ValueError("one share per variant, at least two variants")
    if any(s <= 0 for s in shares):
        raise ValueError("every variant needs a positive share")
    total = sum(observed)
    expected = [total * s / sum(shares) for s in shares]
    if total == 0:
        return SampleRatio(list(observed), expected, 0.0, 1.0)
    chi_square = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    p_value = float(_distributions().chi2.sf(chi_square, len(observed) - 1))
    return SampleRatio(list(observed), expected, chi_square, p_value)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion: sound near 0 and for small n, where the normal
    approximation's interval leaves [0, 1] (a false-positive rate of 5 in 100, say)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n and n > 0")
    z = float(_distributions().norm.ppf(0.5 + confidence / 2))
    rate = successes / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sample_size(baseline: float, minimum_effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per variant for a two-sided two-proportion test to detect an absolute change of
    `minimum_effect` from a `baseline` rate with the given power (normal approximation, each
    variant's own variance)."""
    if not 0 < baseline < 1 or not 0 < baseline + minimum_effect < 1 or minimum_effect == 0:
        raise ValueError("baseline and baseline + minimum_effect must be rates strictly between 0 and 1")
    other = baseline + minimum_effect
    z_alpha = float(_distributions().norm.ppf(1 - alpha / 2))
    z_power = float(_distributions().norm.ppf(power))
    mean = (baseline + other) / 2
    numerator = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(
        baseline * (1 - baseline) + other * (1 - other)
    )
    return math.ceil((numerator / minimum_effect) ** 2)


def always_valid_p(
    effect: float, variance: float, units_per_variant: int, mixture_variance: float, previous: float = 1.0
) -> float:
    """The mixture sequential probability ratio test (mSPRT; Johari et al., 2017) for a difference of
    means: a p-value that stays valid however often it is looked at, so a dashboard may show it after
    every batch. `variance`: the per-unit variance of the metric (each variant's, assumed equal);
    `mixture_variance` (tau^2): the prior spread of effects, about the square of the effects that
    matter; `previous`: the p-value at the last look (it never rises)."""
    if mixture_variance <= 0:
        raise ValueError("mixture_variance (tau^2) must be positive")
    if units_per_variant <= 0:
        return previous
    v = 2 * variance  # the variance of one pair's difference
    n = units_per_variant
    if v <= 0:
        return previous
    log_ratio = 0.5 * math.log(v / (v + n * mixture_variance)) + (n**2 * mixture_variance * effect**2) / (
        2 * v * (v + n * mixture_variance)
    )
    return min(previous, math.exp(-log_ratio)) if log_ratio > 0 else previous

"""The experiment statistics against hand-computed values, scipy's own tests, and simulation: a test
that says 5 % must be wrong 5 % of the time under the null, and one that may be peeked at must stay
at 5 % however often it is."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quarry.experiments.stats import (
    always_valid_p,
    cuped,
    sample_ratio,
    sample_size,
    two_proportions,
    welch,
    wilson,
)


def test_two_proportions_against_a_hand_computed_example() -> None:
    # 200 of 1,000 vs 250 of 1,000: pooled rate 0.225, null SE sqrt(0.225 * 0.775 * 2 / 1000) =
    # 0.018675, z = 0.05 / 0.018675 = 2.677, two-sided p = 0.0074; unpooled SE 0.018641, so the 95 %
    # interval is 0.05 +- 1.96 * 0.018641 = (0.0135, 0.0865).
    result = two_proportions(200, 1000, 250, 1000)
    assert result.effect == pytest.approx(0.05)
    assert result.statistic == pytest.approx(2.677, abs=1e-3)
    assert result.p_value == pytest.approx(0.0074, abs=1e-4)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.0135, 0.0865), abs=1e-4)
    assert result.relative_effect == pytest.approx(0.25)
    assert result.significant()
    assert not two_proportions(200, 1000, 210, 1000).significant()


@pytest.mark.parametrize("bad", [(0, 0, 1, 10), (11, 10, 1, 10), (-1, 10, 1, 10)])
def test_two_proportions_refuses_impossible_counts(bad: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        two_proportions(*bad)


def test_welch_agrees_with_scipy() -> None:
    rng = np.random.default_rng(7)
    control, variant = rng.normal(10, 2, 80), rng.normal(10.8, 5, 45)  # unequal variances and sizes
    ours = welch(control.tolist(), variant.tolist())
    theirs = scipy_stats.ttest_ind(variant, control, equal_var=False)
    interval = theirs.confidence_interval(0.95)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_welch_without_variance_is_exact() -> None:
    apart = welch([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert apart.p_value == 0.0 and apart.statistic == float("inf") and apart.significant()
    same = welch([1.0, 1.0], [1.0, 1.0])
    assert same.p_value == 1.0 and not same.significant()


def test_a_sample_ratio_mismatch_is_flagged_only_when_it_is_unlikely() -> None:
    # 5,000 vs 5,200 of a 50/50 split: chi-square 2 * 100^2 / 5,100 = 3.92, p = 0.048: chance.
    fair = sample_ratio([5000, 5200], [0.5, 0.5])
    assert fair.chi_square == pytest.approx(3.9216, abs=1e-4)
    assert fair.p_value == pytest.approx(0.0477, abs=1e-4)
    assert not fair.mismatch
    # 5,000 vs 5,400: chi-square 15.4, p < 0.001: a broken split.
    assert sample_ratio([5000, 5400], [0.5, 0.5]).mismatch
    # Unequal shares are what is expected of them.
    assert not sample_ratio([9000, 1000], [0.9, 0.1]).mismatch


def test_sample_size_matches_the_formula_and_gives_the_power_it_promises() -> None:
    # Baseline 10 %, +1 point, alpha 0.05, power 0.8: (1.96 * sqrt(2 * 0.105 * 0.895) + 0.8416 *
    # sqrt(0.1 * 0.9 + 0.11 * 0.89))^2 / 0.01^2 = 14,750.8.
    n = sample_size(0.10, 0.01)
    assert n == 14751
    assert sample_size(0.10, 0.02) < n < sample_size(0.10, 0.01, power=0.9)
    rng = np.random.default_rng(18)
    runs = 600
    control = rng.binomial(n, 0.10, runs)
    variant = rng.binomial(n, 0.11, runs)
    detected = sum(
        two_proportions(int(c), n, int(v), n).p_value < 0.05 for c, v in zip(control, variant, strict=True)
    )
    assert abs(detected / runs - 0.8) < 0.05  # 3 standard errors of 600 draws at 0.8 is 0.049


def test_a_a_tests_are_wrong_about_as_often_as_alpha_says() -> None:
    rng = np.random.default_rng(5)
    runs, n = 4000, 2000
    a, b = rng.binomial(n, 0.07, runs), rng.binomial(n, 0.07, runs)
    false_positives = sum(
        two_proportions(int(x), n, int(y), n).p_value < 0.05 for x, y in zip(a, b, strict=True)
    )
    assert 0.04 < false_positives / runs < 0.06  # 0.05 +- 3 standard errors (0.0034)


def test_cuped_narrows_the_interval_without_moving_the_effect() -> None:
    rng = np.random.default_rng(11)
    effects, plain_widths, adjusted_widths = [], [], []
    for _ in range(40):
        before_c, before_v = rng.normal(10, 2, 3000), rng.normal(10, 2, 3000)
        after_c = before_c + rng.normal(0, 1, 3000)
        after_v = before_v + rng.normal(0, 1, 3000) + 0.1
        plain = welch(after_c.tolist(), after_v.tolist())
        adjusted = cuped(after_c.tolist(), before_c.tolist(), after_v.tolist(), before_v.tolist())
        result = welch(adjusted.control, adjusted.variant)
        assert adjusted.theta == pytest.approx(1.0, abs=0.05)  # cov(x, y) / var(x) = 4 / 4
        effects.append(result.effect)
        plain_widths.append(plain.ci_high - plain.ci_low)
        adjusted_widths.append(result.ci_high - result.ci_low)
    # Correlation^2 = 4 / 5: the variance falls to a fifth, the interval to sqrt(0.2) = 0.45 of its width.
    assert np.mean(adjusted_widths) / np.mean(plain_widths) == pytest.approx(math.sqrt(0.2), abs=0.03)
    # Unbiased: the standard error of the mean of 40 effects is about 0.0041 (each is sqrt(2 * 1 / 3000)
    # wide after adjustment), so 0.015 is over three of them.
    assert np.mean(effects) == pytest.approx(0.1, abs=0.015)


def test_the_always_valid_p_value_survives_peeking_where_a_t_test_does_not() -> None:
    rng = np.random.default_rng(3)
    runs, looks, batch = 300, 40, 50
    sequential_alarms = peeking_alarms = 0
    for _ in range(runs):
        a, b = rng.normal(0, 1, looks * batch), rng.normal(0, 1, looks * batch)
        p, peeked = 1.0, False
        for look in range(1, looks + 1):
            n = look * batch
            effect = float(b[:n].mean() - a[:n].mean())
            p = always_valid_p(effect, variance=1.0, units_per_variant=n, mixture_variance=0.01, previous=p)
            peeked = peeked or welch(a[:n].tolist(), b[:n].tolist()).p_value < 0.05
        sequential_alarms += p < 0.05
        peeking_alarms += peeked
    assert sequential_alarms / runs <= 0.05 + 0.038  # at most alpha, plus 3 standard errors
    assert peeking_alarms / runs > 0.12  # looking 40 times at a fixed-horizon test: far above 5 %
    # ... and it still finds a real effect.
    a, b = rng.normal(0, 1, 4000), rng.normal(0.15, 1, 4000)
    found = always_valid_p(float(b.mean() - a.mean()), 1.0, 4000, 0.01)
    assert found < 0.05
    with pytest.raises(ValueError):
        always_valid_p(0.1, 1.0, 100, mixture_variance=0.0)


@pytest.mark.parametrize(("successes", "n"), [(5, 100), (0, 20), (20, 20), (37, 91)])
def test_the_wilson_interval_matches_scipys(successes: int, n: int) -> None:
    expected = scipy_stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    assert wilson(successes, n) == pytest.approx((expected.low, expected.high), abs=1e-9)

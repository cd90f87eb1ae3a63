"""PSI and its bins, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.quality.drift import edges_of, judged, own_histogram, proportions, psi


def test_identical_distributions_have_no_drift() -> None:
    assert psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == 0.0


def test_psi_of_a_shift_worked_out_by_hand() -> None:
    expected = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)  # 0.87889
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(expected) == pytest.approx(0.878890, abs=1e-6)


def test_an_empty_bin_is_floored_not_infinite() -> None:
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value) and value > 1


def test_repeated_quantiles_merge_into_one_bin() -> None:
    values = np.array([0.0] * 80 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0] * 2)
    edges = edges_of(values)
    assert edges[0] == 0.0 and len(edges) == len(set(edges))
    shares = proportions(values, edges)
    assert shares[0] == pytest.approx(0.8) and sum(shares) == pytest.approx(1.0)


def test_values_fall_in_bins_closed_on_the_right() -> None:
    assert proportions(np.array([1.0, 2.0, 2.5, 3.0, 9.0]), [2.0, 3.0]) == [0.4, 0.4, 0.2]


def test_a_shifted_feature_fails_and_the_same_one_passes() -> None:
    rng = np.random.default_rng(3)
    before = rng.normal(10, 2, 5000)
    reference = own_histogram(before)
    assert judged("drift", "x", reference, rng.normal(10, 2, 5000), "before").status == "pass"
    shifted = judged("drift", "x", reference, rng.normal(13, 2, 5000), "before")
    assert shifted.status == "fail" and shifted.observed is not None and shifted.observed > 0.25
    assert judged("drift", "x", None, before, "nothing").status == "skip"

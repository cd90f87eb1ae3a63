"""How bench-search judges the cost of keys and limits (pipelines/bench/security_cost.py): each keyed
run against the open run of the same pair and round, never across pairs or rounds."""

from __future__ import annotations

from pipelines.bench.security_cost import KEYED, OPEN, Segment, median_interval, paired_differences, side_cpu


def test_each_keyed_run_is_compared_with_the_open_run_beside_it() -> None:
    segments = [
        Segment(1, OPEN, 0, 0.5, 1000),  # 0.5 ms a request
        Segment(1, KEYED, 0, 0.54, 1000),
        Segment(1, OPEN, 1, 0.9, 1000),  # a slow moment for pair 1 in round 1: both sides slow
        Segment(1, KEYED, 1, 0.96, 1000),
        Segment(2, OPEN, 0, 0.6, 1000),
        Segment(2, KEYED, 0, 0.62, 1000),
    ]
    assert sorted(paired_differences(segments)) == [0.02, 0.04, 0.06]


def test_a_keyed_run_without_its_open_partner_is_left_out() -> None:
    assert paired_differences([Segment(1, KEYED, 0, 0.5, 1000), Segment(2, OPEN, 0, 0.4, 1000)]) == []


def test_a_side_pools_its_processes_by_requests() -> None:
    side = side_cpu(
        [Segment(1, OPEN, 0, 1.0, 1000), Segment(2, OPEN, 0, 1.0, 3000), Segment(1, OPEN, 1, 2.0, 1000)], OPEN
    )
    assert side.per_process_ms == [0.5, 2.0] and side.pooled_ms == 0.8 and side.requests == 5000


def test_the_interval_holds_the_median_and_widens_with_spread() -> None:
    tight = median_interval([0.03, 0.031, 0.029, 0.03, 0.032, 0.028])
    loose = median_interval([0.03, 0.1, -0.05, 0.02, 0.09, -0.01])
    assert tight[0] <= 0.03 <= tight[1]
    assert loose[1] - loose[0] > tight[1] - tight[0]

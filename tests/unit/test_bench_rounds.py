"""bench-search's concurrency-16 rows: each figure is the median of a system's rounds."""

from __future__ import annotations

from pipelines.bench.search_bench import Latency, median_round


def _round(number: int, qps: float, p99: float, api_cpu: float | None) -> Latency:
    return Latency(
        system="api_cached",
        client="wrk",
        concurrency=16,
        requests=1000 * number,
        errors=number - 1,
        qps=qps,
        p50_ms=1.0 * number,
        p95_ms=5.0 + number,
        p99_ms=p99,
        api_cpu_ms=api_cpu,
        opensearch_cpu_ms=0.1,
        round=number,
    )


def test_the_row_holds_each_figures_median_and_the_summed_counts() -> None:
    row = median_round(
        [_round(1, 6000.0, 15.2, 0.30), _round(2, 5000.0, 9.9, 0.20), _round(3, 7000.0, 10.1, 0.25)]
    )
    assert (row.qps, row.p50_ms, row.p95_ms, row.p99_ms) == (6000.0, 2.0, 7.0, 10.1)
    assert (row.requests, row.errors) == (6000, 3)
    assert (row.api_cpu_ms, row.opensearch_cpu_ms) == (0.25, 0.1)
    assert row.round is None and row.system == "api_cached" and row.concurrency == 16


def test_a_figure_missing_in_any_round_has_no_median() -> None:
    row = median_round([_round(1, 1.0, 1.0, 0.3), _round(2, 1.0, 1.0, None), _round(3, 1.0, 1.0, 0.2)])
    assert row.api_cpu_ms is None and row.opensearch_cpu_ms == 0.1

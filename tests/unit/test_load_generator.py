from pipelines.bench.load import closed_loop, percentile


def test_percentile_is_nearest_rank_on_sorted_values() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert (
        percentile(values, 0.5) == 51.0
        and percentile(values, 0.99) == 99.0
        and percentile(values, 0.0) == 1.0
    )


def test_closed_loop_sends_exactly_total_requests_and_counts_errors() -> None:
    seen: list[int] = []

    def make_caller():
        def call(item: int) -> bool:
            seen.append(item)
            return item % 3 != 0

        return call

    result = closed_loop([0, 1, 2, 3, 4], total=50, concurrency=4, make_caller=make_caller, label="t")
    assert len(seen) == 50 and len(result.latencies_ms) == 50
    assert sorted(set(seen)) == [0, 1, 2, 3, 4]
    assert result.errors == sum(1 for i in seen if i % 3 == 0) == 20

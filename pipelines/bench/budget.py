"""What a latency goal under a saturating closed loop would take, in CPU per request.

bench-search's concurrency-16 goal for uncached searches ("p95 within raw p95 + 15 ms") is missed
on this two-core machine, and the question a reader asks is how far off it is in terms of work the
API could remove. In a closed loop every client always has one request in flight, so Little's law
ties the mean latency to throughput (mean = concurrency / QPS); with the cores saturated, throughput
is the cores' time divided by the CPU each request costs. Holding the measured tail shape (p95 over
the mean) and the OpenSearch node's CPU per search fixed, the goal's p95 turns into a QPS, that QPS
into CPU per request, and what is left after OpenSearch's share is the API's budget. The cached
path, which answers from memory without a search, is the floor under any API budget: it is HTTP, the
framework, the cache lookup and the query log, and nothing else.
"""

from __future__ import annotations

import msgspec


class CpuBudget(msgspec.Struct, frozen=True):
    system: str
    concurrency: int
    round: int | None  # the benchmark round measured; None when not in rounds
    target_p95_ms: float
    measured_qps: float
    measured_p95_ms: float
    tail_ratio: float  # measured p95 / mean latency, the mean from Little's law
    required_qps: float  # the QPS at which the same tail ratio puts p95 on the target
    measured_cpu_ms: float  # API + OpenSearch, per request
    required_cpu_ms: float  # per request, for the required QPS on the same busy cores
    opensearch_cpu_ms: float
    api_cpu_ms: float
    api_budget_ms: float  # required CPU minus OpenSearch's share; negative: unreachable even at zero
    api_floor_ms: float | None  # the API's CPU per cached search: no search, no ranking


def cpu_budget(
    system: str,
    concurrency: int,
    qps: float,
    p95_ms: float,
    target_p95_ms: float,
    api_cpu_ms: float,
    opensearch_cpu_ms: float,
    api_floor_ms: float | None,
    round_number: int | None = None,
) -> CpuBudget:
    """Assumes the cores stay as busy as in the measured run: the estimate scales the CPU per request
    by measured over required QPS, which holds only while the CPU, not I/O, bounds throughput (true
    at concurrency 16 here; the bench's CPU table shows the cores saturated)."""
    if qps <= 0 or p95_ms <= 0 or target_p95_ms <= 0:
        raise ValueError("a budget needs a positive QPS, p95 and target")
    mean_ms = concurrency / qps * 1000
    tail_ratio = p95_ms / mean_ms
    required_qps = concurrency * tail_ratio / target_p95_ms * 1000
    measured_cpu_ms = api_cpu_ms + opensearch_cpu_ms
    required_cpu_ms = measured_cpu_ms * qps / required_qps
    return CpuBudget(
        system=system,
        concurrency=concurrency,
        round=round_number,
        target_p95_ms=round(target_p95_ms, 2),
        measured_qps=round(qps, 1),
        measured_p95_ms=round(p95_ms, 2),
        tail_ratio=round(tail_ratio, 3),
        required_qps=round(required_qps, 1),
        measured_cpu_ms=round(measured_cpu_ms, 3),
        required_cpu_ms=round(required_cpu_ms, 3),
        opensearch_cpu_ms=round(opensearch_cpu_ms, 3),
        api_cpu_ms=round(api_cpu_ms, 3),
        api_budget_ms=round(required_cpu_ms - opensearch_cpu_ms, 3),
        api_floor_ms=None if api_floor_ms is None else round(api_floor_ms, 3),
    )

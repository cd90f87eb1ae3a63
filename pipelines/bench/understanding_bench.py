"""`make bench-understanding`: CPU time of the query-understanding step per uncached search.

Issue 13's budget: at most 0.3 ms of CPU per uncached search at p50. Each query is understood once,
with the per-version memo bypassed (what a query the process has not seen costs), and timed with the
thread's CPU clock, so other processes on the shared machine do not inflate it. The baseline, measured
in the same run over the same queries, is normalization alone: the part every search paid before the
corrector and the extractor. Queries: the never-harm, golden, misspelling and WANDS sets (about 3,500
distinct), reported whole and split by whether every word was already known (the common case, no
candidate search) or not. The understanding is built as the API builds it, but remembers no text
vectors: each round pays the encoder for every unknown word's readings and for every everyday-word
brand's category fit, as a process that has seen none of these words would (the API remembers 10,000).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from tqdm import tqdm

from pipelines.bench.load import percentile
from pipelines.bench.report import environment, write_report
from pipelines.query_sets import misspellings, never_harm_queries, understanding_as_served, wands_queries
from quarry.text import tokens

BUDGET_MS = 0.3
ROUNDS = 3


class CpuPercentiles(msgspec.Struct):
    queries: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


class UnderstandingBench(msgspec.Struct):
    environment: dict[str, Any]
    artifact_version: str | None
    normalize_only: CpuPercentiles
    understanding: CpuPercentiles
    known_words_only: CpuPercentiles
    with_unknown_words: CpuPercentiles
    budget_ms: float
    within_budget: bool


def _percentiles(samples: list[float]) -> CpuPercentiles:
    return CpuPercentiles(
        queries=len(samples),
        p50_ms=round(percentile(samples, 0.5), 4),
        p95_ms=round(percentile(samples, 0.95), 4),
        p99_ms=round(percentile(samples, 0.99), 4),
        mean_ms=round(sum(samples) / len(samples), 4) if samples else 0.0,
    )


def bench_queries() -> list[str]:
    queries = never_harm_queries() + [typed for typed, _ in misspellings()] + wands_queries()
    return list(dict.fromkeys(queries))


def measure(environment: dict[str, Any]) -> UnderstandingBench:
    from quarry.settings import load_settings
    from quarry.understanding.services import QueryRejectedError

    understanding = understanding_as_served(load_settings(), remembered_vectors=0)
    model = understanding._model.get()  # the loaded version, timed without the memo in front of it
    queries = bench_queries()
    normalize: dict[str, float] = {}
    full: dict[str, float] = {}
    for _ in tqdm(range(ROUNDS), desc="understanding rounds", disable=None):
        for query in queries:  # interleaved, so a noisy moment hits both alike
            try:
                started = time.thread_time_ns()
                understanding.normalize(query)
                normalize_ms = (time.thread_time_ns() - started) / 1e6
                started = time.thread_time_ns()
                understanding._understand(query, model)
                full_ms = (time.thread_time_ns() - started) / 1e6
            except QueryRejectedError:
                continue
            normalize[query] = min(normalize.get(query, float("inf")), normalize_ms)
            full[query] = min(full.get(query, float("inf")), full_ms)
    speller = model.speller
    known = [q for q in full if all(speller.is_known(w) for w in tokens(understanding.normalize(q)))]
    unknown = [q for q in full if q not in set(known)]
    result = _percentiles(list(full.values()))
    return UnderstandingBench(
        environment=environment,
        artifact_version=understanding.version,
        normalize_only=_percentiles(list(normalize.values())),
        understanding=result,
        known_words_only=_percentiles([full[q] for q in known]),
        with_unknown_words=_percentiles([full[q] for q in unknown]),
        budget_ms=BUDGET_MS,
        within_budget=result.p50_ms <= BUDGET_MS,
    )


def table(report: UnderstandingBench) -> str:
    rows = [
        ("normalization only (baseline)", report.normalize_only),
        ("understanding, all queries", report.understanding),
        ("... every word known", report.known_words_only),
        ("... some word unknown", report.with_unknown_words),
    ]
    lines = [
        f"# bench-understanding ({report.environment.get('commit')}, "
        f"{report.environment.get('measured_at')})",
        "",
        "CPU time (thread clock) of query understanding per distinct query, the memo bypassed: what an",
        f"uncached search pays. Best of {ROUNDS} interleaved rounds per query. Artifact "
        f"`{report.artifact_version}`.",
        "",
        "| step | queries | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {p.queries} | {p.p50_ms:.3f} | {p.p95_ms:.3f} | {p.p99_ms:.3f} | {p.mean_ms:.3f} |"
        for name, p in rows
    ]
    verdict = "within" if report.within_budget else "OVER"
    lines += [
        "",
        f"Budget (issue 13): the step adds at most {report.budget_ms} ms at p50: {verdict} "
        f"({report.understanding.p50_ms:.3f} ms).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    report = measure(environment())
    text = table(report)
    write_report("bench-understanding", report, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make eval`: NDCG@10, MRR and zero-result rate on the golden set, raw BM25 against the full
pipeline, side by side, per query kind; written to reports/eval-search.{json,md}.

Unjudged results count as grade 0. MRR's "relevant" is grade >= 3. Gains are 2^grade - 1.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import msgspec

from pipelines.golden import GoldenQuery, load_judgments, load_queries
from pipelines.synonyms.apply import keyword_query
from quarry.adapters.search_engine import SearchEngine

K = 10
RELEVANT = 3

# A system answers a query with (ranked product ids, total hits).
SearchFunction = Callable[[str], tuple[list[str], int]]


class SystemScores(msgspec.Struct):
    ndcg_at_10: float
    mrr: float
    zero_result_rate: float
    queries: int


class EvalReport(msgspec.Struct):
    environment: dict[str, Any]
    judged_pairs: int
    queries: int
    systems: dict[str, SystemScores]
    by_kind: dict[str, dict[str, SystemScores]]
    per_query: dict[str, dict[str, float]]


def dcg(grades: list[int]) -> float:
    return sum(float(2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:K]))


def ndcg_at_10(ranked: list[str], judged: dict[str, int]) -> float:
    ideal = dcg(sorted(judged.values(), reverse=True))
    return dcg([judged.get(pid, 0) for pid in ranked]) / ideal if ideal > 0 else 0.0


def reciprocal_rank(ranked: list[str], judged: dict[str, int]) -> float:
    for i, pid in enumerate(ranked[:K]):
        if judged.get(pid, 0) >= RELEVANT:
            return 1.0 / (i + 1)
    return 0.0


def raw_bm25(engine: SearchEngine, alias: str) -> SearchFunction:
    """The baseline: one multi_match over the same fields, no query understanding, no reranking."""

    def search(query: str) -> tuple[list[str], int]:
        result = engine.search(alias, {**keyword_query(query, size=K), "track_total_hits": True})
        return [h.id for h in result.hits], result.total

    return search


def _scores(rows: list[tuple[float, float, bool]]) -> SystemScores:
    return SystemScores(
        ndcg_at_10=round(statistics.fmean(r[0] for r in rows), 4),
        mrr=round(statistics.fmean(r[1] for r in rows), 4),
        zero_result_rate=round(sum(r[2] for r in rows) / len(rows), 4),
        queries=len(rows),
    )


def evaluate(systems: dict[str, SearchFunction], environment: dict[str, Any]) -> EvalReport:
    queries: list[GoldenQuery] = load_queries()
    judgments = load_judgments()
    rows: dict[str, list[tuple[str, float, float, bool]]] = {name: [] for name in systems}
    for query in queries:
        judged = judgments.get(query.query, {})
        for name, search in systems.items():
            ranked, total = search(query.query)
            rows[name].append(
                (query.kind, ndcg_at_10(ranked, judged), reciprocal_rank(ranked, judged), total == 0)
            )
    kinds = sorted({q.kind for q in queries})
    return EvalReport(
        environment=environment,
        judged_pairs=sum(len(v) for v in judgments.values()),
        queries=len(queries),
        systems={name: _scores([r[1:] for r in rs]) for name, rs in rows.items()},
        by_kind={
            kind: {name: _scores([r[1:] for r in rs if r[0] == kind]) for name, rs in rows.items()}
            for kind in kinds
        },
        per_query={
            q.query: {name: round(rows[name][i][1], 4) for name in systems} for i, q in enumerate(queries)
        },
    )


def markdown(report: EvalReport) -> str:
    names = list(report.systems)
    lines = [
        f"# eval-search ({report.environment.get('commit')}, {report.environment.get('measured_at')})",
        "",
        f"{report.queries} golden queries, {report.judged_pairs} judged pairs (tests/golden/). "
        "NDCG@10 with gains 2^g-1; MRR counts grade >= 3 as relevant; zero-result rate = share of queries "
        "with no hits.",
        "",
        "| system | NDCG@10 | MRR | zero-result rate |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {n} | {s.ndcg_at_10:.4f} | {s.mrr:.4f} | {s.zero_result_rate:.2%} |"
            for n, s in report.systems.items()
        ],
        "",
        "## NDCG@10 by query kind",
        "",
        "| kind | queries | " + " | ".join(names) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for kind, systems in report.by_kind.items():
        count = next(iter(systems.values())).queries
        lines.append(
            f"| {kind} | {count} | " + " | ".join(f"{systems[n].ndcg_at_10:.4f}" for n in names) + " |"
        )
    return "\n".join(lines)

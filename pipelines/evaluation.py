"""`make eval`: NDCG@10, MRR and zero-result rate on the golden set, raw BM25 against the full
pipeline, side by side, per query kind; written to reports/eval-search.{json,md}.

Unjudged results count as grade 0. MRR's "relevant" is grade >= 3. Gains are 2^grade - 1.

A query with no judged product of grade >= 1 (the `absent` kind: things the catalog does not sell) has
nothing relevant to find: its ideal DCG is 0, so NDCG@10 is undefined, MRR is 0 whatever a system does,
and an empty answer is the right one, not a failure. Such queries are left out of the NDCG@10, MRR and
zero-result-rate averages (overall and per kind); they are still counted in their kind's row, and the
report gives the share of them each system answered with zero results.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import msgspec

from pipelines.golden import GoldenQuery, load_judgments, load_queries
from pipelines.synonyms.apply import keyword_query
from quarry.adapters.search_engine import SearchEngine
from quarry.judgments import RELEVANT, K, ndcg_at_10

# A system answers a query with (ranked product ids, total hits).
SearchFunction = Callable[[str], tuple[list[str], int]]


class SystemScores(msgspec.Struct):
    """Averages over the `queries` that have a relevant product (None when there are none); the
    `nothing_relevant` others only count how often the system rightly answered with no results."""

    ndcg_at_10: float | None
    mrr: float | None
    zero_result_rate: float | None
    queries: int
    nothing_relevant: int = 0
    nothing_relevant_zero_result_rate: float | None = None


class EvalReport(msgspec.Struct):
    environment: dict[str, Any]
    judged_pairs: int
    queries: int
    systems: dict[str, SystemScores]
    by_kind: dict[str, dict[str, SystemScores]]
    per_query: dict[str, dict[str, float | None]]  # NDCG@10; None: nothing relevant to find
    queries_without_relevant: int = 0


class _Row(msgspec.Struct, frozen=True):
    kind: str
    has_relevant: bool
    ndcg: float
    rr: float
    zero_results: bool


def reciprocal_rank(ranked: list[str], judged: dict[str, int]) -> float:
    for i, pid in enumerate(ranked[:K]):
        if judged.get(pid, 0) >= RELEVANT:
            return 1.0 / (i + 1)
    return 0.0


def has_relevant(judged: dict[str, int]) -> bool:
    """Whether the query has anything to find: a judged product of grade >= 1 (ideal DCG > 0)."""
    return any(grade >= 1 for grade in judged.values())


def raw_bm25(engine: SearchEngine, alias: str) -> SearchFunction:
    """The baseline: one multi_match over the same fields, no query understanding, no reranking."""

    def search(query: str) -> tuple[list[str], int]:
        result = engine.search(alias, {**keyword_query(query, size=K), "track_total_hits": True})
        return [h.id for h in result.hits], result.total

    return search


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4)


def _scores(rows: list[_Row]) -> SystemScores:
    scored = [r for r in rows if r.has_relevant]
    empty = [r.zero_results for r in rows if not r.has_relevant]
    return SystemScores(
        ndcg_at_10=round(statistics.fmean(r.ndcg for r in scored), 4) if scored else None,
        mrr=round(statistics.fmean(r.rr for r in scored), 4) if scored else None,
        zero_result_rate=_share([r.zero_results for r in scored]) if scored else None,
        queries=len(scored),
        nothing_relevant=len(empty),
        nothing_relevant_zero_result_rate=_share(empty) if empty else None,
    )


def evaluate(
    systems: dict[str, SearchFunction],
    environment: dict[str, Any],
    queries: list[GoldenQuery] | None = None,
    judgments: dict[str, dict[str, int]] | None = None,
) -> EvalReport:
    """Every system on every golden query (by default tests/golden/queries.tsv and judgments.tsv.gz)."""
    queries = load_queries() if queries is None else queries
    judgments = load_judgments() if judgments is None else judgments
    rows: dict[str, list[_Row]] = {name: [] for name in systems}
    for query in queries:
        judged = judgments.get(query.query, {})  # absent queries BM25 finds nothing for have no rows
        relevant = has_relevant(judged)
        for name, search in systems.items():
            ranked, total = search(query.query)
            rows[name].append(
                _Row(
                    kind=query.kind,
                    has_relevant=relevant,
                    ndcg=ndcg_at_10(ranked, judged),
                    rr=reciprocal_rank(ranked, judged),
                    zero_results=total == 0,
                )
            )
    kinds = sorted({q.kind for q in queries})
    return EvalReport(
        environment=environment,
        judged_pairs=sum(len(v) for v in judgments.values()),
        queries=len(queries),
        systems={name: _scores(rs) for name, rs in rows.items()},
        by_kind={
            kind: {name: _scores([r for r in rs if r.kind == kind]) for name, rs in rows.items()}
            for kind in kinds
        },
        per_query={
            q.query: {
                name: round(rows[name][i].ndcg, 4) if rows[name][i].has_relevant else None for name in systems
            }
            for i, q in enumerate(queries)
        },
        queries_without_relevant=sum(not has_relevant(judgments.get(q.query, {})) for q in queries),
    )


def _cell(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(report: EvalReport) -> str:
    names = list(report.systems)
    averaged = report.queries - report.queries_without_relevant
    excluded = (
        f" The three average the {averaged} queries with a relevant product; the "
        f"{report.queries_without_relevant} with none (kind absent: the catalog does not sell it, so no "
        "results is the right answer) are only counted by kind (–) and in the last table."
        if report.queries_without_relevant
        else ""
    )
    lines = [
        f"# eval-search ({report.environment.get('commit')}, {report.environment.get('measured_at')})",
        "",
        f"{report.queries} golden queries, {report.judged_pairs} judged pairs (tests/golden/). "
        "NDCG@10 with gains 2^g-1; MRR counts grade >= 3 as relevant; zero-result rate = share of queries "
        f"with no hits.{excluded}",
        "",
        "| system | NDCG@10 | MRR | zero-result rate |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {n} | {_cell(s.ndcg_at_10, '.4f')} | {_cell(s.mrr, '.4f')} | "
            f"{_cell(s.zero_result_rate, '.2%')} |"
            for n, s in report.systems.items()
        ],
        "",
        "## NDCG@10 by query kind",
        "",
        "| kind | queries | " + " | ".join(names) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for kind, systems in report.by_kind.items():
        first = next(iter(systems.values()))
        count = first.queries + first.nothing_relevant
        lines.append(
            f"| {kind} | {count} | " + " | ".join(_cell(systems[n].ndcg_at_10, ".4f") for n in names) + " |"
        )
    if report.queries_without_relevant:
        lines += [
            "",
            "## Queries with nothing relevant in the catalog",
            "",
            "Share answered with zero results (the right answer; the rest showed unrelated products).",
            "",
            "| system | queries | answered with zero results |",
            "| --- | ---: | ---: |",
            *[
                f"| {n} | {s.nothing_relevant} | {_cell(s.nothing_relevant_zero_result_rate, '.2%')} |"
                for n, s in report.systems.items()
            ],
        ]
    return "\n".join(lines)

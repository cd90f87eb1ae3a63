"""`make understanding-report`: what query understanding does to queries it has never been tuned on,
before and after a change, to reports/query-understanding.{json,md}.

It measures the served artifact (QUARRY_ARTIFACTS_DIR) on the sets of `pipelines.query_sets`: the
never-harm, WANDS and misspelling rates and entity precision and recall; joins `make eval`'s per-kind
NDCG@10 (reports/eval-search.json) and, when given, a baseline: the same measurements made by another
checkout (`--baseline`, a JSON written with `--measure-only`) and its eval report
(`--baseline-eval`). The 20 golden queries the pipeline ranks worst are listed with what the
understanding step made of them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import msgspec

from pipelines.query_sets import BRAND_TRAPS, entity_scores, served_understanding, spelling_rates

REPORTS = Path(__file__).resolve().parent.parent / "reports"


class Measurement(msgspec.Struct):
    label: str
    artifact_version: str | None
    spelling: dict[str, Any]
    entities: dict[str, Any]
    brand_traps: dict[str, Any] | None = None  # measurements before session 8 lack the set


def measure(label: str) -> Measurement:
    understanding = served_understanding()
    return Measurement(
        label=label,
        artifact_version=understanding.version,
        spelling=msgspec.to_builtins(spelling_rates(understanding.understand)),
        entities=msgspec.to_builtins(entity_scores(understanding.understand)),
        brand_traps=msgspec.to_builtins(entity_scores(understanding.understand, BRAND_TRAPS)),
    )


@functools.cache
def _golden_kinds() -> dict[str, str]:
    from pipelines.golden import load_queries

    return {q.query: q.kind for q in load_queries()}


def understood_as(query: str) -> str:
    """What the understanding step made of a query, in one line, for the worst-queries list."""
    understood = served_understanding().understand(query)
    parts = [_golden_kinds().get(query, "?")]
    if understood.corrected or understood.did_you_mean:
        parts.append(f"spelling: {understood.corrected or understood.did_you_mean}")
    named = {k: v for k, v in msgspec.to_builtins(understood.entities).items() if v}
    parts.append(f"entities: {named}" if named else "no entities")
    if understood.filters:
        parts.append("filters: " + ", ".join(f.source for f in understood.filters))
    return "; ".join(parts)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _ndcg(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def match_quality_lines(points: list[Any], observed: dict[str, list[Any]], configured: float) -> list[str]:
    from pipelines.match_quality_curve import GAP, GOAL_NONE, recommended

    best = recommended(points)
    counts = ", ".join(f"{name} {len(rows)}" for name, rows in observed.items())
    lines = [
        "",
        "## Match quality (`match_quality`)",
        "",
        f"Queries: {counts}. Each searched once through the app; thresholds swept offline "
        f"(good = partial + {GAP}). Plot: `query-understanding-match-quality.png`.",
        "",
        "| partial threshold | absent + nonsense: none | products exist: none | products exist: good |",
        "|---|---|---|---|",
    ]
    for p in points:
        mark = " (configured)" if abs(p.partial_similarity - configured) < 1e-9 else ""
        lines.append(
            f"| {p.partial_similarity:.3f}{mark} | {_pct(p.absent_or_nonsense_none)} | "
            f"{_pct(p.products_exist_none)} | {_pct(p.products_exist_good)} |"
        )
    verdict = (
        f"the lowest threshold with none for >= {GOAL_NONE:.0%} of absent and nonsense queries is "
        f"{best.partial_similarity:.3f}"
        if best
        else f"no threshold reaches none for {GOAL_NONE:.0%} of absent and nonsense queries"
    )
    return [*lines, "", f"Goal: {verdict}; configured: {configured:.3f} (quarry/search/ranking.json)."]


def markdown(
    after: Measurement,
    before: Measurement | None,
    evals: dict[str, dict[str, Any]],
    match_lines: list[str] | None = None,
) -> str:
    columns = [m for m in (before, after) if m is not None]
    head = "| | " + " | ".join(m.label for m in columns) + " | goal |"
    rule = "|---|" + "---|" * (len(columns) + 1)
    rows = [
        ("never-harm left as typed", "never_harm_changed", True, ">= 99.5 %"),
        ("WANDS without typo rewritten or questioned", "wands_touched", False, "<= 2 %"),
        ("WANDS real typos fixed", "wands_typos_fixed", False, "4 of 4"),
        ("misspellings fixed (applied or did_you_mean)", "misspellings_fixed", False, ">= 90 %"),
        ("misspellings applied", "misspellings_applied", False, ""),
    ]
    lines = [
        "# Query understanding",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `make understanding-report`; sets and",
        "method: docs/query-understanding.md#evaluation. Counts are `count / total`.",
        "",
        "## Spelling",
        "",
        head,
        rule,
    ]
    for title, key, inverted, goal in rows:
        cells = []
        for m in columns:
            rate = m.spelling[key]
            share = 1 - rate["rate"] if inverted else rate["rate"]
            count = rate["total"] - rate["count"] if inverted else rate["count"]
            cells.append(f"{_pct(share)} ({count} / {rate['total']})")
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {goal} |")
    lines += [
        "",
        "## Entities (tests/golden/entities.tsv)",
        "",
        "| kind | " + " | ".join(f"{m.label} P | {m.label} R" for m in columns) + " |",
        "|---|" + "---|---|" * len(columns),
    ]
    for kind in ["overall", *after.entities["by_kind"]]:
        cells = []
        for m in columns:
            scores = m.entities["overall"] if kind == "overall" else m.entities["by_kind"].get(kind)
            cells += [_ndcg(scores["precision"]), _ndcg(scores["recall"])] if scores else ["–", "–"]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Goal: precision >= 0.95 and recall >= 0.85 overall.")
    traps = [m for m in columns if m.brand_traps]
    if traps:
        lines += [
            "",
            f"## Brand traps (tests/golden/{BRAND_TRAPS}, all hard cases; no goal)",
            "",
            "| | overall P | overall R | brand P | brand R |",
            "|---|---|---|---|---|",
        ]
        scored = [(m.label, m.brand_traps) for m in traps if m.brand_traps is not None]
        for label, scores in scored:
            overall, brand = scores["overall"], scores["by_kind"]["brand"]
            rates = [overall["precision"], overall["recall"], brand["precision"], brand["recall"]]
            lines.append(f"| {label} | " + " | ".join(_ndcg(rate) for rate in rates) + " |")
        lines += ["", "Still wrong:", ""]
        lines += [f"- {example}" for example in scored[-1][1]["worst"]]
    lines += match_lines or []
    if evals:
        lines += _eval_tables(evals)
    lines += ["", "## Misspellings not fixed (first 20)", ""]
    lines += [f"- {example}" for example in after.spelling["misspellings_fixed"]["examples"]]
    lines += ["", "## Never-harm queries changed", ""]
    lines += [f"- {example}" for example in after.spelling["never_harm_changed"]["examples"]]
    lines += ["", "## Entity labels missed or added, worst 20", ""]
    lines += [f"- {example}" for example in after.entities["worst"]]
    return "\n".join(lines) + "\n"


def _eval_tables(evals: dict[str, dict[str, Any]]) -> list[str]:
    labels = list(evals)
    after = evals[labels[-1]]
    lines = [
        "",
        "## Golden set (`make eval`), the full pipeline",
        "",
        "| kind | queries | " + " | ".join(f"NDCG@10 {label}" for label in labels) + " | goal |",
        "|---|---|" + "---|" * (len(labels) + 1),
    ]
    goals = {"typo": ">= 0.85", "synonym": ">= 0.80", "conceptual": ">= 0.65", "numeric": ">= 0.85"}
    overall = [_ndcg(e["systems"]["pipeline"]["ndcg_at_10"]) for e in evals.values()]

    def counts(found: list[dict[str, Any] | None]) -> str:
        """Queries per measurement: the golden set grows, so a before may have had fewer."""
        return " / ".join(sorted({str(f["queries"]) for f in found if f}, key=int))

    total = counts([e["systems"]["pipeline"] for e in evals.values()])
    lines.append(f"| all | {total} | " + " | ".join(overall) + " | >= 0.867 |")
    for kind in after["by_kind"]:
        found = [e["by_kind"].get(kind, {}).get("pipeline") for e in evals.values()]
        cells = [_ndcg(f.get("ndcg_at_10") if f else None) for f in found]
        lines.append(f"| {kind} | {counts(found)} | " + " | ".join(cells) + f" | {goals.get(kind, '')} |")
    zero = [_pct(e["systems"]["pipeline"]["zero_result_rate"]) for e in evals.values()]
    lines.append("| zero-result rate (products exist) | | " + " | ".join(zero) + " | < 1 % |")
    worst = sorted(
        ((q, s["pipeline"]) for q, s in after["per_query"].items() if s and s.get("pipeline") is not None),
        key=lambda item: item[1],
    )[:20]
    lines += ["", "## The 20 golden queries ranked worst (pipeline NDCG@10, after)", ""]
    lines += [f"- `{query}`: {score:.3f} ({understood_as(query)})" for query, score in worst]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--label", default="after")
    parser.add_argument("--measure-only", type=Path, help="write the measurement JSON here and stop")
    parser.add_argument("--baseline", type=Path, help="a measurement JSON of the code before")
    parser.add_argument("--baseline-eval", type=Path, help="the eval report JSON of the code before")
    parser.add_argument("--eval", type=Path, default=REPORTS / "eval-search.json")
    parser.add_argument("--no-match-quality", action="store_true", help="skip the match-quality curve")
    args = parser.parse_args(argv)
    after = measure(args.label)
    if args.measure_only:
        args.measure_only.write_bytes(msgspec.json.format(msgspec.json.encode(after)))
        return 0
    before = msgspec.json.decode(args.baseline.read_bytes(), type=Measurement) if args.baseline else None
    evals: dict[str, dict[str, Any]] = {}
    if args.baseline_eval and args.baseline_eval.exists():
        evals[before.label if before else "before"] = json.loads(args.baseline_eval.read_text())
    if args.eval.exists():
        evals[args.label] = json.loads(args.eval.read_text())
    match_lines: list[str] = []
    curve_points: list[Any] = []
    if not args.no_match_quality:
        from pipelines.match_quality_curve import curve, observe, plot
        from quarry.search.ranking import load_config_file
        from quarry.settings import load_settings

        settings = load_settings()
        configured = load_config_file(settings.ranking_config).match_partial_similarity
        observed = observe(settings)
        curve_points = curve(observed)
        plot(curve_points, configured, REPORTS / "query-understanding-match-quality.png")
        match_lines = match_quality_lines(curve_points, observed, configured)
    report = {
        "after": msgspec.to_builtins(after),
        "before": msgspec.to_builtins(before) if before else None,
        "match_quality_curve": msgspec.to_builtins(curve_points),
    }
    (REPORTS / "query-understanding.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    table = markdown(after, before, evals, match_lines)
    (REPORTS / "query-understanding.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

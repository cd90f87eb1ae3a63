"""`make eval-ltr`: the learned ranker judged through the whole search pipeline, out of fold, with
everything issue 17's evaluation asks in one report (reports/ltr.{json,md}, docs/ltr.md#evaluation).

- **Whole pipeline** (what a shopper gets): every golden query through the search core as `make
  eval` runs it (same user, same NDCG@10, MRR and zero-result rate), by raw BM25, by the pipeline
  with the formula (Phase 1), and by the pipeline with a learned champion that never trained on that
  query: five models, one per cross-validation fold, each the champion of a scratch model store
  while its fold's queries are searched. A query with no training group is searched with the fold
  its name hashes to.
- **Same examples** (the cross-validation of `make train-ltr`): formula, Phase-2 per-category
  weights and LTR on each fold's golden windows, and the held-out click NDCG of the time split.
- **Cost**: what serving adds per uncached search, from the newest `make bench-search` report
  (its commit is named: the two are not one run).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from typing import Any

import msgspec
from tqdm import tqdm

from pipelines import evaluation
from pipelines.bench.report import environment, write_report
from pipelines.golden import load_judgments, load_queries
from pipelines.ltr.job import by_kind, examples, importance_plot, time_split_line, whole_golden_set
from pipelines.ltr.scratch_store import scratch_store
from pipelines.ltr.train import (
    FOLDS,
    CrossValidation,
    cross_validate,
    folds_of,
    seed_spread,
    time_split,
    train_final,
)
from pipelines.pipeline_search import pipeline_search
from quarry import connections
from quarry.ltr.ranker import ARTIFACT
from quarry.settings import PROJECT_ROOT, Settings

log = logging.getLogger("pipelines.ltr")

SYSTEMS = ("raw_bm25", "formula", "ltr_out_of_fold")
ORACLE = "window_oracle"
"""The formula's LTR window reordered by the golden grades themselves: the most any reranker of the
window can reach, so the headroom the goal is part of."""
GOLDEN_GAIN_GOAL = 0.02
CLICK_GAIN_GOAL = 0.05
BENCH_REPORT = PROJECT_ROOT / "reports" / "bench-search.json"


def fold_of(query: str, folds: dict[str, int]) -> int:
    return folds.get(query, zlib.crc32(query.encode()) % FOLDS)


def serving_cost() -> dict[str, Any] | None:
    """The LTR rows of the newest bench-search report, with its commit."""
    if not BENCH_REPORT.exists():
        return None
    report = json.loads(BENCH_REPORT.read_text())
    if not report.get("ltr"):
        return None
    return {**report["ltr"], "commit": report["environment"]["commit"]}


def run(settings: Settings) -> dict[str, Any]:
    found = examples(settings)
    names = found.featureset.names
    cv = cross_validate(found.groups, names)
    spread = seed_spread(found.groups, names, cv.rounds)
    split = time_split(found.groups, names, cv.rounds)
    assignment = folds_of(found.groups)
    folds = {g.query: f for g, f in zip(found.groups, assignment, strict=True)}
    final = train_final(found.groups, names, cv.rounds)
    importance_plot(final, PROJECT_ROOT / "reports" / "ltr-feature-importance.png")
    scratch = msgspec.structs.replace(settings, artifact_reload_interval_s=0.0)
    with scratch_store(settings) as store:
        versions = {}
        for fold in tqdm(range(FOLDS), desc="fold models", unit="fold"):
            rest = [g for g, f in zip(found.groups, assignment, strict=True) if f != fold]
            model = train_final(rest, names, cv.rounds)
            meta = {**model.metadata(), "featureset": found.featureset.name, "fold": fold}
            versions[fold] = store.publish(ARTIFACT, model.save(), meta, activate=False)
        formula_only = msgspec.structs.replace(settings, ltr_rescore=False)
        with pipeline_search(formula_only) as formula, pipeline_search(scratch, store) as learned:
            by_fold = learned(None)

            def out_of_fold(query: str) -> tuple[list[str], int]:
                store.activate(ARTIFACT, versions[fold_of(query, folds)])  # reloaded at the next search
                return by_fold(query)

            systems: dict[str, evaluation.SearchFunction] = {
                "raw_bm25": evaluation.raw_bm25(connections.search_engine(settings), settings.products_alias),
                "formula": formula(None),
                "ltr_out_of_fold": out_of_fold,
                ORACLE: window_oracle(formula(None, size=settings.ltr_window), load_judgments()),
            }
            queries = sorted(load_queries(), key=lambda q: fold_of(q.query, folds))  # one switch per fold
            report = evaluation.evaluate(_progress(systems, len(queries)), environment(), queries)
    summary = {
        "environment": environment(),
        "featureset": found.featureset.name,
        "groups": {
            "golden": sum(1 for g in found.groups if g.source == "golden"),
            "clicks": sum(1 for g in found.groups if g.source == "clicks"),
        },
        "whole_pipeline": msgspec.to_builtins(report),
        "cross_validation": msgspec.to_builtins(cv),
        "seed_spread": msgspec.to_builtins(spread),
        "golden_set_same_examples": whole_golden_set(cv.per_query, found.unordered),
        "time_split": msgspec.to_builtins(split) if split is not None else None,
        "serving_cost": serving_cost(),
    }
    summary["goals"] = goals(summary)
    write_report("ltr", summary, markdown(summary, cv, found.kinds))
    return summary


def window_oracle(
    window: evaluation.SearchFunction, judgments: dict[str, dict[str, int]]
) -> evaluation.SearchFunction:
    """The window best first by its golden grades (ties keep the formula's order)."""

    def search(query: str) -> tuple[list[str], int]:
        ranked, total = window(query)
        graded = judgments.get(query, {})
        return sorted(ranked, key=lambda product: -graded.get(product, 0)), total

    return search


def _progress(
    systems: dict[str, evaluation.SearchFunction], queries: int
) -> dict[str, evaluation.SearchFunction]:
    bar = tqdm(total=queries * len(systems), desc="golden searches", unit="search")

    def counted(search: evaluation.SearchFunction) -> Callable[[str], tuple[list[str], int]]:
        def call(query: str) -> tuple[list[str], int]:
            bar.update(1)
            return search(query)

        return call

    return {name: counted(search) for name, search in systems.items()}


def goals(summary: dict[str, Any]) -> dict[str, bool | None]:
    systems = summary["whole_pipeline"]["systems"]
    gain = systems["ltr_out_of_fold"]["ndcg_at_10"] - systems["formula"]["ndcg_at_10"]
    split, cost = summary["time_split"], summary["serving_cost"]
    return {
        "golden_ndcg_at_10_gain_at_least_0_02": gain >= GOLDEN_GAIN_GOAL,
        "held_out_click_ndcg_gain_at_least_5pct": split["relative_gain"] >= CLICK_GAIN_GOAL
        if split
        else None,
        "serving_adds_at_most_1_5ms_cpu": cost["within_goal"] if cost else None,
    }


def _met(value: bool | None) -> str:
    return "not measured" if value is None else ("yes" if value else "NO")


def headroom(overall: dict[str, Any]) -> str:
    """The goal against what reordering the window can give at most."""
    if ORACLE not in overall:
        return ""
    most = overall[ORACLE]["ndcg_at_10"] - overall["formula"]["ndcg_at_10"]
    if most <= 0:
        return ""
    share = GOLDEN_GAIN_GOAL / most
    return (
        f" The window reordered by the golden grades themselves (`{ORACLE}`) reaches {most:+.4f}: the "
        f"goal is {share:.0%} of what any reranker of the window can give."
    )


def spread_line(spread: dict[str, Any]) -> str:
    gains = ", ".join(f"{g:+.4f}" for g in spread["gains"])
    return (
        f"LTR - formula on the same examples, cross-validated once per fold seed ({len(spread['seeds'])} "
        f"seeds, without the Phase-2 baseline): **{spread['mean']:+.4f} ± {spread['sd']:.4f}** (mean ± sd; "
        f"{gains}). Compare feature sets or parameters by this, not by one split."
    )


def markdown(summary: dict[str, Any], cv: CrossValidation, kinds: dict[str, str]) -> str:
    whole = summary["whole_pipeline"]
    overall = whole["systems"]
    cost = summary["serving_cost"]
    env = summary["environment"]
    gain = overall["ltr_out_of_fold"]["ndcg_at_10"] - overall["formula"]["ndcg_at_10"]
    lines = [
        f"# ltr ({env['commit']}, {env['measured_at']})",
        "",
        f"Feature set `{summary['featureset']}`; {summary['groups']['golden']} golden and "
        f"{summary['groups']['clicks']} click query groups. How it was measured: docs/ltr.md#evaluation.",
        "",
        "## Whole pipeline, out of fold",
        "",
        f"The {whole['queries']} golden queries through the search core as `make eval` runs them; "
        "`ltr_out_of_fold` ranks each query with the model of the cross-validation fold that did not "
        f"train on it (NDCG@10 and MRR over the {overall['formula']['queries']} queries with a relevant "
        "product; zero-result rate over the same):",
        "",
        "| system | NDCG@10 | MRR | zero-result rate |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {name} | {overall[name]['ndcg_at_10']:.4f} | {overall[name]['mrr']:.4f} | "
            f"{overall[name]['zero_result_rate']:.2%} |"
            for name in (*SYSTEMS, ORACLE)
            if name in overall
        ],
        "",
        f"LTR - formula: **{gain:+.4f}** NDCG@10 (goal +{GOLDEN_GAIN_GOAL}).{headroom(overall)}",
        "",
        "By query kind (NDCG@10):",
        "",
        "| kind | queries | raw BM25 | formula | LTR out of fold | LTR - formula | window oracle |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, by_system in sorted(whole["by_kind"].items()):
        values = [by_system[name]["ndcg_at_10"] for name in SYSTEMS]
        if None in values:
            continue
        oracle = by_system.get(ORACLE, {}).get("ndcg_at_10")
        lines.append(
            f"| {kind} | {by_system['formula']['queries']} | {values[0]:.4f} | {values[1]:.4f} | "
            f"{values[2]:.4f} | {values[2] - values[1]:+.4f} | {'–' if oracle is None else f'{oracle:.4f}'} |"
        )
    same = summary["golden_set_same_examples"]
    lines += [
        "",
        "## Same examples (cross-validation)",
        "",
        f"Each fold's golden windows ({sum(f.golden_queries for f in cv.folds)} queries with grades to "
        "order) scored in the formula's order, by Phase-2 per-category weights tuned on the other "
        "folds, and by the model trained on the other folds:",
        "",
        "| kind | queries | formula | Phase-2 weights | LTR | LTR - formula |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {kind} | {n} | {v[0]:.4f} | {v[1]:.4f} | {v[2]:.4f} | {v[2] - v[0]:+.4f} |"
            for kind, n, v in by_kind(cv.per_query, kinds)
        ],
        f"| all | {len(cv.per_query)} | {cv.formula_ndcg_at_10:.4f} | {cv.phase2_ndcg_at_10:.4f} | "
        f"{cv.ltr_ndcg_at_10:.4f} | {cv.ltr_ndcg_at_10 - cv.formula_ndcg_at_10:+.4f} |",
        "",
        (
            f"Over all {same['queries']} golden queries with a judged window: formula "
            f"{same['formula']:.4f}, Phase-2 {same['phase2']:.4f}, LTR {same['ltr']:.4f}."
            if same
            else ""
        ),
        "",
        spread_line(summary["seed_spread"]),
        "",
        time_split_line(summary["time_split"]),
        "",
        "## Serving cost",
        "",
        (
            f"From `make bench-search` at {cost['commit']} (reports/bench-search.md): the API with the "
            f"newest model as champion minus the same API without, per uncached search: API CPU "
            f"{cost['api_cpu_ms']:+.2f} ms, OpenSearch CPU {cost['opensearch_cpu_ms']:+.2f} ms, p50 at "
            f"concurrency 1 {cost['p50_ms_c1']:+.2f} ms."
            if cost
            else "Not measured: run `make bench-search` with an `ltr` model registered."
        ),
        "",
        "## Goals",
        "",
        "| goal | met |",
        "| --- | --- |",
        *[f"| {name} | {_met(met)} |" for name, met in summary["goals"].items()],
        "",
        "![feature importance](ltr-feature-importance.png)",
    ]
    return "\n".join(lines)

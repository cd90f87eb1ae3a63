"""The `make train-ltr` job: examples, cross-validation against the formula, the final model as a
registry candidate, and the report (reports/ltr-cv.md with the feature-importance plot)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import msgspec

from pipelines.bench.report import commit, environment, write_report
from pipelines.golden import load_judgments, load_queries
from pipelines.ltr.click_model import (
    cells_from_events,
    examination_from_exploration,
    explored_phases,
    fit_pbm,
)
from pipelines.ltr.dataset import Group, click_groups, golden_groups, read_records
from pipelines.ltr.train import cross_validate, metadata, time_split, train_final
from quarry import connections
from quarry.ltr.features import FORMULA_FEATURE
from quarry.ltr.featureset import FeatureSet
from quarry.ltr.ranker import ARTIFACT, LtrRanker
from quarry.settings import PROJECT_ROOT, Settings

log = logging.getLogger("pipelines.ltr")
CLICK_MAX_RANK = 10


def importance_plot(model: LtrRanker, path: Path) -> None:
    """Total gain per feature: what the trees split on, and how much it bought."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gains = model.gains()
    names = sorted(gains, key=gains.__getitem__)
    figure, axes = plt.subplots(figsize=(7, 0.32 * len(names) + 1.2))
    axes.barh(names, [gains[n] for n in names], color="#4c72b0")
    axes.set_xlabel("total gain")
    axes.set_title("LTR feature importance (XGBoost total gain)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


class Examples(msgspec.Struct, frozen=True):
    """What the ranker trains and is judged on: golden and click query groups in the formula's
    order, with the golden queries' kinds and the NDCG@10 of those with nothing to order."""

    groups: list[Group]
    featureset: FeatureSet
    kinds: dict[str, str]
    unordered: dict[str, float]


def examples(settings: Settings) -> Examples:
    from pipelines.coec import read_coec_events
    from quarry.search.assembly import offline_search_service

    judgments = load_judgments()
    kinds = {q.query: q.kind for q in load_queries()}
    golden_queries = [q for q, kind in kinds.items() if kind != "absent"]
    # Golden windows in the formula's order even while a learned model serves: the formula is the
    # baseline, scored by example order.
    formula_only = msgspec.structs.replace(settings, ltr_rescore=False)
    with offline_search_service(formula_only, log_queries=False) as service:
        assert service.features is not None  # noqa: S101 - the assembly always gives it one
        featureset = service.features.featureset
        unordered: dict[str, float] = {}
        groups = golden_groups(service, judgments, golden_queries, unordered)
    ubi = connections.ubi_engine(settings)
    events = list(read_coec_events(ubi, CLICK_MAX_RANK))
    cells = cells_from_events(events, CLICK_MAX_RANK)
    if cells:
        curve = examination_from_exploration(events, explored_phases(ubi), settings.exploration_depth)
        log.info("examination", extra={"measured_by_exploration": curve is not None, "curve": curve})
        clicks = fit_pbm(cells, examination=curve)
        formula_at = featureset.names.index(FORMULA_FEATURE) if FORMULA_FEATURE in featureset.names else None
        groups += click_groups(read_records(ubi, featureset.name), clicks, formula_at)
    if not groups:
        raise RuntimeError("no training examples: the golden windows matched no judged products")
    return Examples(groups, featureset, kinds, unordered)


def train_ltr(settings: Settings, register: bool = True) -> dict[str, Any]:
    from pipelines.registry.cli import registry_of

    found = examples(settings)
    groups, featureset, kinds, unordered = found.groups, found.featureset, found.kinds, found.unordered
    cv = cross_validate(groups, featureset.names)
    split = time_split(groups, featureset.names, cv.rounds)
    model = train_final(groups, featureset.names, cv.rounds)
    now = dt.datetime.now(dt.UTC)
    meta = metadata(model, cv, groups, featureset.name, commit(), now)
    meta["metrics"]["time_split"] = msgspec.to_builtins(split) if split is not None else None
    meta["metrics"]["golden_set"] = whole_golden_set(cv.per_query, unordered)
    version, verdict = None, None
    if register:
        from pipelines.registry import gate
        from quarry.model_aliases import SHADOW

        registry = registry_of(settings)
        version = registry.store.publish(ARTIFACT, model.save(), meta, activate=False)
        registry.register(ARTIFACT, version)
        # Always via shadow and canary, the first model too: the formula serves until then, so
        # there is always something live to be judged against (docs/ltr.md#promotion).
        verdict = gate.decide(registry, ARTIFACT, version, SHADOW)
        gate.promote_when_passed(registry, ARTIFACT, version, SHADOW, verdict)
    reports = PROJECT_ROOT / "reports"
    importance_plot(model, reports / "ltr-feature-importance.png")
    summary = {"environment": environment(), "version": version, "cross_validation": cv, **meta}
    write_report("ltr-cv", summary, markdown(cv, meta, version, kinds, verdict))
    log.info("ltr candidate registered", extra={"version": version, "metrics": meta["metrics"]})
    return {
        "artifact": ARTIFACT,
        "version": version,
        "cross_validation": msgspec.to_builtins(cv),
        "gate": msgspec.to_builtins(verdict) if verdict is not None else None,
    }


def by_kind(per_query: dict[str, list[float]], kinds: dict[str, str]) -> list[tuple[str, int, list[float]]]:
    """(kind, queries, [formula, Phase-2, LTR] mean NDCG@10), out of fold, per golden query kind."""
    grouped: dict[str, list[list[float]]] = {}
    for query, scores in per_query.items():
        grouped.setdefault(kinds.get(query, "?"), []).append(scores)
    return [
        (kind, len(rows), [sum(r[i] for r in rows) / len(rows) for i in range(3)])
        for kind, rows in sorted(grouped.items())
    ]


def whole_golden_set(per_query: dict[str, list[float]], unordered: dict[str, float]) -> dict[str, Any]:
    """NDCG@10 over every golden query with a judged window, as make eval averages it: the queries
    with nothing to order count the same for every ranker."""
    rows = [*per_query.values(), *([v, v, v] for v in unordered.values())]
    if not rows:
        return {}
    mean = [round(sum(r[i] for r in rows) / len(rows), 4) for i in range(3)]
    return {"queries": len(rows), "formula": mean[0], "phase2": mean[1], "ltr": mean[2]}


def golden_set_line(whole: dict[str, Any]) -> str:
    if not whole:
        return ""
    return (
        f"Over all {whole['queries']} golden queries with a judged window (those with nothing to order "
        f"score the same for every ranker): formula {whole['formula']:.4f}, Phase-2 {whole['phase2']:.4f}, "
        f"LTR {whole['ltr']:.4f} ({whole['ltr'] - whole['formula']:+.4f})."
    )


def time_split_line(split: dict[str, Any] | None) -> str:
    if split is None:
        return "Held-out click NDCG on a time split: too few logged searches with click judgments yet."
    return (
        f"Held-out click NDCG@10 on a time split (the {split['held_out_click_groups']} queries logged "
        f"last, from {split['held_out_from']}; the model trained on the {split['train_click_groups']} "
        f"logged before and the golden groups of other queries): formula {split['formula_ndcg_at_10']:.4f}, "
        f"LTR {split['ltr_ndcg_at_10']:.4f} ({split['relative_gain']:+.1%})."
    )


def registered_line(version: str | None, verdict: Any) -> str:
    if version is None:
        return "Not registered."
    line = f"Registered: `{ARTIFACT}` version `{version}` as `candidate`"
    if verdict is None:
        return line + "."
    if verdict.passed:
        return line + f", moved to `shadow` by the offline gate ({'; '.join(verdict.reasons)})."
    return line + f"; the offline gate refused it: {'; '.join(verdict.reasons)}."


def markdown(
    cv: Any, meta: dict[str, Any], version: str | None, kinds: dict[str, str], verdict: Any = None
) -> str:
    window = meta["data_window"]
    lines = [
        f"# ltr-cv ({meta['code_commit']}, {window['built_at']})",
        "",
        f"Feature set `{meta['featureset']}`; {window['golden_groups']} golden and "
        f"{window['click_groups']} click query groups, {window['examples']} examples; "
        f"{len(cv.folds)}-fold cross-validation by query. "
        "Each fold's golden queries are scored three times on the same examples: in the formula's window "
        "order, by Phase-2 per-category weights tuned by coordinate ascent on the other folds, and by the "
        "model trained on the other folds. NDCG@10 with gains 2^grade - 1 over the window (unjudged "
        "products are 0, as in make eval).",
        "",
        "| fold | golden queries | formula | Phase-2 weights | LTR | best rounds for the fold alone |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {f.fold} | {f.golden_queries} | {f.formula_ndcg_at_10:.4f} | {f.phase2_ndcg_at_10:.4f} | "
            f"{f.ltr_ndcg_at_10:.4f} | {f.best_iteration + 1} |"
            for f in cv.folds
        ],
        f"| all | {sum(f.golden_queries for f in cv.folds)} | {cv.formula_ndcg_at_10:.4f} | "
        f"{cv.phase2_ndcg_at_10:.4f} | {cv.ltr_ndcg_at_10:.4f} | {cv.rounds} (final) |",
        "",
        golden_set_line(meta["metrics"]["golden_set"]),
        "",
        time_split_line(meta["metrics"]["time_split"]),
        "",
        "By golden query kind (each query scored by the fold that did not train on it):",
        "",
        "| kind | queries | formula | Phase-2 weights | LTR | LTR - formula |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {kind} | {n} | {v[0]:.4f} | {v[1]:.4f} | {v[2]:.4f} | {v[2] - v[0]:+.4f} |"
            for kind, n, v in by_kind(cv.per_query, kinds)
        ],
        "",
        registered_line(version, verdict),
        "",
        "![feature importance](ltr-feature-importance.png)",
    ]
    return "\n".join(lines)

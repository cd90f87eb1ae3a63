"""`make experiment-report NAME=…` (docs/experiments.md#reading-an-experiment): an
experiment's metrics from UBI (quarry/experiments/readout.py), per variant against control, with the
sample-ratio check, as markdown, JSON and a plot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.experiments.definitions import Experiment
from quarry.experiments.readout import ExperimentReport, InterleavingReadout, PriceLookup, report


def markdown(result: ExperimentReport, plot: str | None) -> list[str]:
    ratio = result.sample_ratio
    split = (
        "**mismatch: do not read the result; look for an assignment or logging bug**"
        if ratio.mismatch
        else "no mismatch"
    )
    lines = [
        f"# Experiment `{result.experiment}` ({result.measured_at})",
        "",
        f"Unit: {result.unit}. Primary metric: `{result.primary_metric}`. Exposures from "
        f"{result.first_exposure or '-'} to {result.last_exposure or '-'} (the records carrying the "
        "experiment: UBI query records for searches, `quarry-recommendations` answer records for "
        "recommendations; events joined by `query_id`).",
        "",
        "| variant | share | units | searches | zero-result searches | revenue | p95 latency (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {c.variant} | {c.share:.2f} | {c.units} | {c.searches} | {c.zero_result_searches} | "
            f"{c.revenue:.2f} | {'-' if c.latency_p95_ms is None else f'{c.latency_p95_ms:.1f}'} |"
            for c in result.variants
        ],
        "",
        f"Sample ratio: chi-square {ratio.chi_square:.3f}, p = {ratio.p_value:.4f} ({split}).",
        "",
        (
            "**Readable**: every variant has its minimum sample "
            f"({result.minimum_sample} {result.unit}s) and the split holds."
            if result.readable
            else f"**Not readable yet**: the fixed horizon is {result.minimum_sample} {result.unit}s per "
            "variant (or the split is broken). The numbers below are for watching guardrails, not for a "
            "decision."
        ),
        "",
        *comparison_table(result),
        "",
        "Per-search metrics count one shopper's searches as independent; their intervals are too narrow.",
        "Revenue is the catalog price of each product bought after an exposed search. Rows `user (CUPED)`",
        "adjust each user's value by their pre-period value "
        + (
            "(theta: " + ", ".join(f"{m} {t:+.3f}" for m, t in result.cuped_theta.items()) + ")."
            if result.cuped_theta
            else "(not run: no pre-period data varied)."
        ),
    ]
    if result.interleaving is not None:
        lines += interleaving_lines(result.interleaving)
    if plot:
        lines += ["", f"![effects with 95 % intervals, and interleaving votes]({plot})"]
    return lines


def comparison_table(result: ExperimentReport) -> list[str]:
    if not result.comparisons:
        return [
            "No variant is compared with a control here: an interleaving experiment shows every unit both"
            " rankings at once, and is read from its votes below."
        ]
    return [
        "| metric | per | variant | control | variant value | effect | 95 % interval | p | test |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- |",
        *[
            f"| {c.metric}{' (primary)' if c.metric == result.primary_metric else ''} | {c.per} | "
            f"{c.variant} | {c.control_value:.4f} | {c.variant_value:.4f} | {c.effect:+.4f} | "
            f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}] | {c.p_value:.4f}{' *' if c.significant else ''} | "
            f"{c.test}{' · **guardrail breached**' if c.guardrail_breached else ''} |"
            for c in result.comparisons
        ],
    ]


def interleaving_lines(readout: InterleavingReadout) -> list[str]:
    """Every unit saw both teams merged: the votes, per unit (the one to read) and per impression."""
    rows = [("unit (majority of its impressions)", readout.per_unit), ("impression", readout.per_impression)]
    return [
        "",
        f"## Interleaving: `{readout.team_a}` (a) against `{readout.team_b}` (b)",
        "",
        f"{readout.impressions} interleaved answers shown. A click votes for the team that placed the item;",
        "the team with more votes wins; a sign test over the decided ones (ties carry no information).",
        "",
        f"| per | {readout.team_a} wins | {readout.team_b} wins | ties | delta (a - b) | p |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {per} | {p.wins_a} | {p.wins_b} | {p.ties} | {p.delta:+.4f} | {p.p_value:.4f} |"
            for per, p in rows
        ],
    ]


def plot(result: ExperimentReport, path: Path) -> bool:
    """Each metric's effect with its interval, one row per variant and metric; for an interleaving
    experiment, the teams' wins and the ties beside it (per unit and per impression)."""
    panels: list[tuple[float, Callable[[Any], None]]] = []
    if result.comparisons:
        panels.append((0.5 * len(result.comparisons) + 1.5, partial(_effects, result)))
    if result.interleaving is not None:
        panels.append((2.2, partial(_votes, result.interleaving)))
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heights = [height for height, _ in panels]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(8, sum(heights)), height_ratios=heights, squeeze=False
    )
    for (_, draw), axis in zip(panels, axes[:, 0], strict=True):
        draw(axis)
    figure.suptitle(f"{result.experiment}: {'readable' if result.readable else 'not readable yet'}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _effects(result: ExperimentReport, axes: Any) -> None:
    rows = list(reversed(result.comparisons))
    for y, c in enumerate(rows):
        colour = ("tab:green" if c.effect > 0 else "tab:red") if c.significant else "tab:gray"
        interval = [[c.effect - c.ci_low], [c.ci_high - c.effect]]
        axes.errorbar(c.effect, y, xerr=interval, fmt="o", color=colour)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), [f"{c.metric} ({c.variant} vs control)" for c in rows])
    axes.set_xlabel("effect (variant - control), 95 % interval")


def _votes(readout: InterleavingReadout, axes: Any) -> None:
    """Share of decided and tied answers per team, as stacked bars; the sign test's p in the label."""
    rows = [("per impression", readout.per_impression), ("per unit", readout.per_unit)]
    for y, (_, p) in enumerate(rows):
        total = max(p.wins_a + p.wins_b + p.ties, 1)
        left = 0.0
        for count, colour, label in (
            (p.wins_a, "tab:blue", f"{readout.team_a} wins"),
            (p.ties, "lightgray", "ties"),
            (p.wins_b, "tab:orange", f"{readout.team_b} wins"),
        ):
            axes.barh(y, count / total, left=left, color=colour, label=label if y == 0 else None)
            left += count / total
        axes.text(1.01, y, f"p = {p.p_value:.3g}", va="center")
    axes.set_yticks(range(len(rows)), [per for per, _ in rows])
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of interleaved answers (clicks vote for the team that placed the item)")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3, frameon=False)


def run(
    engine: SearchEngine,
    experiments: list[Experiment],
    name: str,
    reports: Path,
    prices: PriceLookup | None = None,
) -> ExperimentReport:
    """Write `<reports>/experiments/<name>.{json,md,png}`; KeyError for an experiment not defined.
    `engine`: where UBI is; `prices`: the catalog's, for revenue."""
    experiment = next((e for e in experiments if e.name == name), None)
    if experiment is None:
        raise KeyError(f"no experiment {name!r} among {sorted(e.name for e in experiments)}")
    result = report(engine, experiment, dt.datetime.now(dt.UTC), prices)
    folder = reports / "experiments"
    folder.mkdir(parents=True, exist_ok=True)
    plotted = plot(result, folder / f"{name}.png")
    lines = markdown(result, f"{name}.png" if plotted else None)
    (folder / f"{name}.json").write_bytes(msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n")
    (folder / f"{name}.md").write_text("\n".join(lines) + "\n")
    return result

"""`make experiment-validation`: the experiment machinery checked on simulated traffic through a real
API (docs/experiments.md#validation-on-simulated-traffic).

`make simulate`'s shoppers (their latent tastes) open recommendations on a separate API process that
runs three kinds of experiment in one layer, so each session is in exactly one:
- **100 A/A tests** (half the sessions, 1/200 of the layer each): both variants serve ALS as usual.
  At alpha = 0.05 about 5 of them should call their CTR difference significant; the report gives the
  rate with its Wilson interval and the p-values' spread (uniform when the test is sound).
- **A known-better A/B test** (a quarter): popularity against ALS personalization, which knows the
  shoppers' tastes, so ALS should win.
- **The same pair interleaved** (a quarter): each session sees both answers merged by team draft.

The unit is the session (each visit is a new one), so the A/A tests' units are disjoint. The known-
better tests are read as the evidence grew (the readout with `until`) at doubling session counts,
and the report says at which count each first detected the better variant. Those looks are a
schedule for the report, not a stopping rule (docs/experiments.md#the-statistics): the fixed-horizon
answer is the last row.

Every number comes from the same readout the dashboard and `make experiment-report` use, over the
records and events the run left in UBI; the experiment names carry the run id, so runs never mix.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from pipelines.bench.api_process import launch_api, wait_ready
from quarry.adapters.search_engine import SearchEngine
from quarry.experiments.definitions import Changes, Experiment, Variant
from quarry.experiments.readout import ExperimentReport, exposures, report
from quarry.experiments.stats import wilson
from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG

log = logging.getLogger("pipelines.experiment_validation")

AA_TESTS = 100
ALPHA = 0.05
FIRST_LOOK = 10
"""Sessions per arm at the first look of the known-better tests; each later look doubles it."""
POPULARITY = Changes(recommendations="popularity")
ALS = Changes(recommendations="als")


class AATest(msgspec.Struct, frozen=True):
    name: str
    sessions: int
    ctr_control: float
    ctr_variant: float
    p_value: float
    sample_ratio_p: float


class Look(msgspec.Struct, frozen=True):
    sessions: int
    """Sessions exposed up to this look (both arms; for interleaving, every session saw both)."""
    effect: float
    """A/B: ALS CTR minus popularity CTR per session. Interleaving: ALS's share of decided sessions
    minus popularity's."""
    p_value: float
    detected: bool
    """p < alpha with the effect in ALS's favour."""


class KnownBetter(msgspec.Struct, frozen=True):
    name: str
    design: str
    looks: list[Look]
    sessions_needed: int | None
    """The first look at which the better variant was detected and stayed detected at every later
    look; None: not within this run."""


class Validation(msgspec.Struct, frozen=True):
    run: str
    measured_at: str
    visits: int
    alpha: float
    aa_tests: list[AATest]
    aa_false_positives: int
    aa_rate: float
    aa_interval: tuple[float, float]
    """Wilson's 95 % interval of the false-positive rate."""
    aa_srm_alarms: int
    """A/A tests whose split failed the sample-ratio check (p < 0.001): should be about 0."""
    known_better: list[KnownBetter]


def definitions(run: str, start: dt.datetime) -> list[Experiment]:
    layer = f"validation-{run}"
    stop = start + dt.timedelta(days=1)

    def experiment(name: str, low: float, high: float, design: str = "ab", **variants: Changes) -> Experiment:
        return Experiment(
            name=name,
            layer=layer,
            layer_range=(low, high),
            variants=[Variant(label, 1 / len(variants), changes) for label, changes in variants.items()],
            start=start,
            stop=stop,
            primary_metric="ctr",
            unit="session",
            design=design,  # type: ignore[arg-type]
        )

    aa = [
        experiment(f"aa_{run}_{i:03d}", i / (2 * AA_TESTS), (i + 1) / (2 * AA_TESTS), a=ALS, b=ALS)
        for i in range(AA_TESTS)
    ]
    ab = experiment(f"ab_{run}", 0.5, 0.75, popularity=POPULARITY, als=ALS)
    interleaved = experiment(f"il_{run}", 0.75, 1.0, "interleaving", popularity=POPULARITY, als=ALS)
    return [*aa, ab, interleaved]


# (definitions directory, base URL) -> visits made; drives the shoppers against that API
Traffic = Callable[[str], int]


def serve(settings: Any, folder: Path, traffic: Traffic) -> int:
    """Run the traffic against an API process that loads the run's definitions, then stop it (which
    writes the answer records it still holds)."""
    process, port = launch_api(
        cache_ttl_s=60,
        QUARRY_EXPERIMENTS_DIR=str(folder),
        # the catalog and artifacts the caller's settings name, which need not be the environment's
        QUARRY_PRODUCTS_ALIAS=settings.products_alias,
        QUARRY_ARTIFACTS_DIR=str(settings.artifacts_dir),
    )
    try:
        wait_ready(process, port)
        base = msgspec.structs.replace(settings, api_port=port).api_base_url
        return traffic(base)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def aa_results(engine: SearchEngine, experiments: list[Experiment], now: dt.datetime) -> list[AATest]:
    found = []
    for experiment in experiments:
        result = report(engine, experiment, now)
        ctr = next((c for c in result.comparisons if c.metric == "ctr" and c.per == experiment.unit), None)
        if ctr is None:  # an arm without sessions: no test to count
            continue
        found.append(
            AATest(
                experiment.name,
                sum(v.units for v in result.variants),
                ctr.control_value,
                ctr.variant_value,
                ctr.p_value,
                result.sample_ratio.p_value,
            )
        )
    return found


def look_times(engine: SearchEngine, experiment: Experiment) -> list[tuple[int, dt.datetime]]:
    """(sessions, the time the last of them was exposed) at each look: FIRST_LOOK sessions per arm,
    doubling, and all of them."""
    stamps = sorted(str(r["timestamp"]) for r in exposures(engine, experiment))
    arms = len(experiment.variants) if experiment.design == "ab" else 1
    counts, n = [], FIRST_LOOK * arms
    while n < len(stamps):
        counts.append(n)
        n *= 2
    if stamps:
        counts.append(len(stamps))
    return [(c, dt.datetime.fromisoformat(stamps[c - 1].replace("Z", "+00:00"))) for c in counts]


def evidence(result: ExperimentReport) -> tuple[float, float]:
    """(effect in ALS's favour, p) of one look."""
    if result.interleaving is not None:  # team a is popularity, b is ALS
        per_unit = result.interleaving.per_unit
        return -per_unit.delta, per_unit.p_value
    ctr = next((c for c in result.comparisons if c.metric == "ctr" and c.per == result.unit), None)
    return (0.0, 1.0) if ctr is None else (ctr.effect, ctr.p_value)


def known_better(engine: SearchEngine, experiment: Experiment, now: dt.datetime) -> KnownBetter:
    looks = []
    for sessions, until in look_times(engine, experiment):
        effect, p_value = evidence(report(engine, experiment, now, until=until))
        looks.append(Look(sessions, round(effect, 6), round(p_value, 6), p_value < ALPHA and effect > 0))
    return KnownBetter(experiment.name, experiment.design, looks, sessions_needed(looks))


def sessions_needed(looks: list[Look]) -> int | None:
    """The sessions of the first look from which every look detected the better variant."""
    for index, look in enumerate(looks):
        if all(later.detected for later in looks[index:]):
            return look.sessions
    return None


def validate(
    settings: Any, engine: SearchEngine, folder: Path, traffic: Traffic, run: str | None = None
) -> Validation:
    """`engine`: where UBI and the answer records are. `folder`: where the run's definitions go."""
    run = run or uuid.uuid4().hex[:8]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    experiments = definitions(run, start)
    folder.mkdir(parents=True, exist_ok=True)
    for experiment in experiments:
        (folder / f"{experiment.name}.json").write_bytes(msgspec.json.encode(experiment))
    visits = serve(settings, folder, traffic)
    engine.request("POST", f"/{RECOMMENDATION_LOG},ubi_events*/_refresh")
    now = dt.datetime.now(dt.UTC)
    aa = aa_results(engine, experiments[:AA_TESTS], now)
    false_positives = sum(t.p_value < ALPHA for t in aa)
    interval = wilson(false_positives, len(aa)) if aa else (0.0, 1.0)
    return Validation(
        run=run,
        measured_at=now.isoformat(timespec="seconds"),
        visits=visits,
        alpha=ALPHA,
        aa_tests=aa,
        aa_false_positives=false_positives,
        aa_rate=false_positives / len(aa) if aa else 0.0,
        aa_interval=(round(interval[0], 4), round(interval[1], 4)),
        aa_srm_alarms=sum(t.sample_ratio_p < 0.001 for t in aa),
        known_better=[known_better(engine, e, now) for e in experiments[AA_TESTS:]],
    )


def markdown(result: Validation, plot: str | None) -> list[str]:
    low, high = result.aa_interval
    median_sessions = (
        sorted(t.sessions for t in result.aa_tests)[len(result.aa_tests) // 2] if result.aa_tests else 0
    )
    lines = [
        f"# Experiments validated on simulated traffic (run {result.run}, {result.measured_at})",
        "",
        f"`make experiment-validation`: {result.visits} recommendation visits by `make simulate`'s",
        "shoppers on a separate API process; each session (the unit) is in one experiment of one layer",
        "(docs/experiments.md#validation-on-simulated-traffic).",
        "",
        f"## A/A: {len(result.aa_tests)} tests, CTR per session, alpha = {result.alpha}",
        "",
        f"- **False positives: {result.aa_false_positives} of {len(result.aa_tests)} = "
        f"{result.aa_rate:.1%}**, 95 % interval (Wilson) {low:.1%} to {high:.1%}; "
        f"expected {result.alpha:.0%}.",
        f"- Sample-ratio alarms (p < 0.001): {result.aa_srm_alarms}.",
        f"- Sessions per test: median {median_sessions}"
        if result.aa_tests
        else "- No A/A test had sessions in both arms.",
        "",
        "## Known better: ALS personalization against popularity",
        "",
        "| test | design | sessions | effect for ALS | p | detected |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for test in result.known_better:
        for look in test.looks:
            lines.append(
                f"| {test.name} | {test.design} | {look.sessions} | {look.effect:+.4f} | "
                f"{_p(look.p_value)} | {'yes' if look.detected else 'no'} |"
            )
    lines += [""]
    for test in result.known_better:
        needed = (
            f"**{test.sessions_needed} sessions**"
            if test.sessions_needed is not None
            else "not within this run"
        )
        lines.append(f"- {test.design}: detected from {needed} on (and at every later look).")
    lines += [
        "",
        "A/B effect: ALS CTR per session minus popularity's. Interleaving effect: the share of decided",
        "sessions ALS won minus popularity's (sign test per session). The looks are for this report, not a",
        "stopping rule: the last row of each test is its fixed-horizon answer.",
    ]
    if plot:
        lines += ["", f"![A/A p-values and the known-better tests' evidence]({plot})"]
    return lines


def _p(value: float) -> str:
    """p-values are kept to 6 decimals: smaller ones read as a bound."""
    return "< 1e-6" if value < 1e-6 else f"{value:.4g}"


def plot(result: Validation, path: Path) -> bool:
    if not result.aa_tests:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist([t.p_value for t in result.aa_tests], bins=20, range=(0, 1), color="tab:blue")
    left.axvline(result.alpha, color="tab:red", linestyle="--", label=f"alpha {result.alpha}")
    left.set_xlabel("A/A p-value (CTR)")
    left.set_ylabel("tests")
    left.set_title(f"{len(result.aa_tests)} A/A tests: {result.aa_rate:.0%} below alpha")
    left.legend()
    for test in result.known_better:
        right.plot(
            [look.sessions for look in test.looks],
            [max(look.p_value, 1e-6) for look in test.looks],  # kept to 6 decimals; log scale
            "o-",
            label=test.design,
        )
    right.axhline(result.alpha, color="tab:red", linestyle="--")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("sessions")
    right.set_ylabel("p (ALS better)")
    right.set_title("ALS against popularity")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write(result: Validation, reports: Path) -> Path:
    folder = reports / "experiments"
    folder.mkdir(parents=True, exist_ok=True)
    plotted = plot(result, folder / "validation.png")
    (folder / "validation.json").write_bytes(
        msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n"
    )
    path = folder / "validation.md"
    path.write_text("\n".join(markdown(result, "validation.png" if plotted else None)) + "\n")
    return path

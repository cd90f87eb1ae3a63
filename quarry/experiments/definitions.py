"""What an experiment is (issue 18, docs/experiments.md#definitions): variants with traffic shares and
what each changes, a layer, dates, the metrics it is judged on and the sample it needs. Definitions
are versioned JSON files (`quarry/experiments/definitions/<name>.json`, reviewed like code) and are
checked whole when loaded: a definition the service cannot run is refused with every reason, never
half applied."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
EXAMPLES_DIR = Path(__file__).parent / "examples"
"""Definitions to copy from (not run): checked by the unit tests like the ones in force."""
SHARE_TOLERANCE = 1e-9

Metric = Literal[
    "ctr", "add_to_cart_rate", "conversion_rate", "revenue_per_user", "zero_result_rate", "latency"
]
Unit = Literal["user", "session"]


class Changes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a variant changes; everything not named stays as the live configuration has it."""

    ranking: dict[str, Any] = {}
    """Fields of the ranking configuration (quarry/search/ranking.json) to override."""
    retrieval: Literal["keyword", "semantic", "hybrid"] | None = None
    fusion: Literal["weighted", "rrf", "max"] | None = None
    model_aliases: dict[str, str] = {}
    """Artifact -> registry alias to serve instead of `champion` (for example `{"ltr": "canary"}`)."""
    recommendations: Literal["als", "popularity"] | None = None


class Variant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    share: float
    changes: Changes = msgspec.field(default_factory=Changes)


class Experiment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    layer: str
    """Experiments in one layer are mutually exclusive: a unit is in at most one of them."""
    variants: list[Variant]
    start: dt.datetime
    stop: dt.datetime
    primary_metric: Metric
    guardrails: list[Metric] = []
    layer_range: tuple[float, float] = (0.0, 1.0)
    """The slice [low, high) of the layer's unit hash this experiment takes. Explicit, so that one
    experiment starting or stopping never moves the units of another; experiments of a layer that
    run at the same time take slices that do not intersect."""
    minimum_sample: int = 0
    """Units per variant before the fixed-horizon result is read (from `stats.sample_size`)."""
    unit: Unit = "user"
    design: Literal["ab", "interleaving"] = "ab"
    """`ab`: each unit sees one variant. `interleaving`: each unit in the experiment sees the two
    variants' results merged by team draft (the first variant is team `a`), and clicks vote for the
    team that placed the result (quarry/experiments/interleaving.py); shares are not used."""
    salt: str = ""
    """Seeds the variant hash; defaults to the name, so each experiment draws its own split."""

    @property
    def seed(self) -> str:
        return self.salt or self.name

    def active(self, now: dt.datetime) -> bool:
        return self.start <= now < self.stop


def problems(experiment: Experiment, ranking_fields: Iterable[str]) -> list[str]:
    """Every reason the service could not run this definition (empty: it can). `ranking_fields`: the
    ranking configuration's fields (`RankingConfig.__struct_fields__`), which a variant may override;
    required, so that a misspelt override is never let through as a change of nothing."""
    found = []
    names = [v.name for v in experiment.variants]
    if len(names) < 2:
        found.append("an experiment needs at least two variants")
    if len(set(names)) != len(names):
        found.append("variant names must be unique")
    if any(v.share <= 0 for v in experiment.variants):
        found.append("every variant needs a positive share")
    if abs(sum(v.share for v in experiment.variants) - 1.0) > SHARE_TOLERANCE:
        found.append("variant shares must add up to 1")
    low, high = experiment.layer_range
    if not 0 <= low < high <= 1:
        found.append("layer_range must be [low, high) with 0 <= low < high <= 1")
    if experiment.start.tzinfo is None or experiment.stop.tzinfo is None:
        found.append("start and stop need a time zone")
    elif experiment.stop <= experiment.start:
        found.append("stop must come after start")
    if experiment.design == "interleaving" and len(names) != 2:
        found.append("an interleaving experiment needs exactly two variants (its two teams)")
    if experiment.minimum_sample < 0:
        found.append("minimum_sample cannot be negative")
    known = set(ranking_fields)
    for variant in experiment.variants:
        unknown = sorted(set(variant.changes.ranking) - known)
        if unknown:
            found.append(f"variant {variant.name!r} overrides unknown ranking fields: {', '.join(unknown)}")
    return found


def layer_problems(experiments: Sequence[Experiment]) -> list[str]:
    """Experiments of one layer that run at the same time must take slices that do not intersect."""
    found = []
    for i, one in enumerate(experiments):
        for other in experiments[i + 1 :]:
            if one.layer != other.layer or not (one.start < other.stop and other.start < one.stop):
                continue
            if one.layer_range[0] < other.layer_range[1] and other.layer_range[0] < one.layer_range[1]:
                found.append(
                    f"layer {one.layer!r}: {one.name} and {other.name} run at the same time on "
                    "intersecting layer ranges"
                )
    names = [e.name for e in experiments]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        found.append(f"experiment names must be unique: {', '.join(duplicated)}")
    return found


class InvalidExperimentsError(ValueError):
    pass


def load_definitions(ranking_fields: Iterable[str], directory: Path = DEFINITIONS_DIR) -> list[Experiment]:
    """Every definition in `directory`, or InvalidExperimentsError with every problem of every file.
    Only definitions without problems of their own are compared with each other (a date without a
    time zone cannot be compared with one that has it)."""
    fields = list(ranking_fields)
    experiments: list[Experiment] = []
    runnable: list[Experiment] = []
    found: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            experiment = msgspec.json.decode(path.read_bytes(), type=Experiment)
        except msgspec.DecodeError as exc:
            found.append(f"{path.name}: {exc}")
            continue
        own = problems(experiment, fields)
        found += [f"{path.name}: {problem}" for problem in own]
        experiments.append(experiment)
        if not own:
            runnable.append(experiment)
    found += layer_problems(runnable)
    if found:
        raise InvalidExperimentsError("; ".join(found))
    return experiments

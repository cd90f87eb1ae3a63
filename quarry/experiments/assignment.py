"""Which variant of which experiments a unit (a user, else a session) is in: a pure function of the
unit's id, the definitions and the time, so every API worker and instance gives the same answer
without sharing state, and a unit keeps its variant for the experiment's whole life
(docs/experiments.md#assignment).

Two hashes, as in layered experimentation (Tang et al., 2010): the layer's hash of the unit picks
at most one experiment of the layer (each takes its own `layer_range`), and the experiment's own
hash picks the variant, so the variant split of one experiment is independent of the layer split
and of every other experiment's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from quarry.canary import bucket
from quarry.experiments.definitions import Experiment


class Assignment(msgspec.Struct, frozen=True):
    experiment: str
    variant: str


def variant_of(experiment: Experiment, unit: str) -> str:
    """The variant this unit gets if it is in the experiment."""
    point = bucket(f"experiment:{experiment.seed}", unit)
    edge = 0.0
    for variant in experiment.variants:
        edge += variant.share
        if point < edge:
            return variant.name
    return experiment.variants[-1].name  # shares add to 1 within rounding


def assign(experiments: Sequence[Experiment], unit: str | None, now: dt.datetime) -> list[Assignment]:
    """The unit's assignments, one per layer at most, in the definitions' order; none without a
    unit id (such traffic is served as control and left out of every analysis)."""
    if not unit:
        return []
    assigned = []
    for experiment in experiments:
        if not experiment.active(now):
            continue
        low, high = experiment.layer_range
        if low <= bucket(f"layer:{experiment.layer}", unit) < high:
            assigned.append(Assignment(experiment.name, variant_of(experiment, unit)))
    return assigned

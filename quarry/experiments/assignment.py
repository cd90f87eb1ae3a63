"""Which variant of which experiments a shopper is in: a pure function of the id of each
experiment's unit (user or session), the definitions and the time, so every API worker and instance
gives the same answer without sharing state, and a unit keeps its variant for the experiment's whole
life (docs/experiments.md#assignment).

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

INTERLEAVED = "interleaved"
"""The variant of every unit in an interleaving experiment: each sees both teams."""


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


def assign(
    experiments: Sequence[Experiment], user_id: str | None, session_id: str | None, now: dt.datetime
) -> list[Assignment]:
    """The shopper's assignments, one per layer at most, in the definitions' order. Each experiment
    hashes the id of its own unit (`user` or `session`); a shopper without that id is not in it
    (such traffic is served as control and left out of that experiment's analysis)."""
    assigned = []
    for experiment in experiments:
        unit = user_id if experiment.unit == "user" else session_id
        if not unit or not experiment.active(now):
            continue
        low, high = experiment.layer_range
        if low <= bucket(f"layer:{experiment.layer}", unit) < high:
            variant = INTERLEAVED if experiment.design == "interleaving" else variant_of(experiment, unit)
            assigned.append(Assignment(experiment.name, variant))
    return assigned

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from quarry.experiments.definitions import Changes, Metric, Unit


class VariantInfo(msgspec.Struct, frozen=True):
    name: str
    share: float
    changes: Changes


class ExperimentInfo(msgspec.Struct, frozen=True):
    name: str
    status: Literal["scheduled", "running", "ended"]
    surfaces: list[str]
    """Where its variants make a difference (`search`, `recommendations`)."""
    layer: str
    layer_range: tuple[float, float]
    unit: Unit
    start: dt.datetime
    stop: dt.datetime
    variants: list[VariantInfo]
    primary_metric: Metric
    guardrails: list[Metric]
    minimum_sample: int


class ExperimentList(msgspec.Struct, frozen=True):
    experiments: list[ExperimentInfo]
    """Every definition the service loaded, in file order (none when they were refused)."""

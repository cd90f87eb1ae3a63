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


class ExperimentVersion(msgspec.Struct, frozen=True):
    """One change made through the admin API (docs/experiments.md#the-admin-api)."""

    name: str
    version: int
    changed_at: str
    changed_by: str
    """The key id of the admin who made the change."""
    reason: str
    experiment: ExperimentInfo | None
    """As it reads after the change; None: retired before it started."""


class ExperimentHistory(msgspec.Struct, frozen=True):
    versions: list[ExperimentVersion]
    """Oldest first."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, get
from litestar.di import NamedDependency

from api.dependencies import from_state
from api.examples import EXPERIMENTS, example_responses
from api.experiments.schemas import ExperimentInfo, ExperimentList, VariantInfo
from quarry.experiments.definitions import Experiment
from quarry.experiments.live import status, surfaces_of


class ExperimentController(Controller):
    """The experiments the service loaded (docs/experiments.md#serving), for the people running
    them: which run now, where, with which variants."""

    path = "/admin/experiments"
    tags = ["admin"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"experiments": from_state("experiments")}  # noqa: RUF012
    opt = {"scope": "admin"}  # noqa: RUF012

    @get(
        summary="The experiment definitions in force, with their status and surfaces",
        responses=example_responses(ExperimentList, EXPERIMENTS),
    )
    async def list_experiments(self, experiments: NamedDependency[list[Experiment]]) -> ExperimentList:
        now = dt.datetime.now(dt.UTC)
        return ExperimentList([info(e, now) for e in experiments])


def info(experiment: Experiment, now: dt.datetime) -> ExperimentInfo:
    return ExperimentInfo(
        name=experiment.name,
        status=status(experiment, now),
        surfaces=list(surfaces_of(experiment)),
        layer=experiment.layer,
        layer_range=experiment.layer_range,
        unit=experiment.unit,
        start=experiment.start,
        stop=experiment.stop,
        variants=[VariantInfo(v.name, v.share, v.changes) for v in experiment.variants],
        primary_metric=experiment.primary_metric,
        guardrails=list(experiment.guardrails),
        minimum_sample=experiment.minimum_sample,
    )

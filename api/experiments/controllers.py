from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.openapi.spec import Example
from litestar.params import JSONBody, Parameter

from api.admin.controllers import audit_action
from api.dependencies import from_state
from api.examples import (
    EXPERIMENT_HISTORY,
    EXPERIMENT_VERSION,
    EXPERIMENTS,
    PROBLEM_404,
    PROBLEM_409,
    example_responses,
)
from api.experiments.schemas import (
    ExperimentHistory,
    ExperimentInfo,
    ExperimentList,
    ExperimentVersion,
    VariantInfo,
)
from api.experiments.services import (
    ExperimentAdmin,
    ExperimentConflictError,
    ExperimentRejectedError,
    UnknownExperimentError,
)
from api.security.auth import caller_of
from quarry.experiments.definitions import Experiment
from quarry.experiments.live import status, surfaces_of
from quarry.experiments.store import StoredVersion

ExperimentName = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The experiment's name (its definition's `name`)",
        examples=[Example(value="als_personalization")],
    ),
]
Reason = Annotated[
    str,
    Parameter(
        max_length=500,
        description="Why: kept in the experiment's history",
        examples=[Example(value="planned in the ranking review")],
    ),
]


class ExperimentController(Controller):
    """The experiments the service loaded (docs/experiments.md#serving), for the people running
    them: which run now, where, with which variants."""

    path = "/admin/experiments"
    tags = ["admin"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {  # noqa: RUF012
        "experiments": from_state("experiments"),
        "experiment_admin": from_state("experiment_admin"),
    }
    opt = {"scope": "admin"}  # noqa: RUF012

    @get(
        summary="The experiment definitions in force, with their status and surfaces",
        responses=example_responses(ExperimentList, EXPERIMENTS),
    )
    async def list_experiments(self, experiments: NamedDependency[list[Experiment]]) -> ExperimentList:
        now = dt.datetime.now(dt.UTC)
        return ExperimentList([info(e, now) for e in experiments])

    @put(
        "/{name:str}",
        summary="Define an experiment (a file's JSON), or change one that has not started yet",
        sync_to_thread=True,
        responses=example_responses(ExperimentVersion, EXPERIMENT_VERSION, PROBLEM_409),
    )
    def define(
        self,
        request: Request[Any, Any, Any],
        experiment_admin: NamedDependency[ExperimentAdmin],
        name: ExperimentName,
        data: JSONBody[Experiment],
        reason: Reason = "",
    ) -> ExperimentVersion:
        if data.name != name:
            raise ValidationException(f"the definition's name {data.name!r} is not the path's {name!r}")
        now = dt.datetime.now(dt.UTC)
        try:
            saved = experiment_admin.define(data, actor(request), reason, now)
        except ExperimentRejectedError as exc:
            raise ValidationException(str(exc)) from exc
        except ExperimentConflictError as exc:
            raise ClientException(str(exc), status_code=409) from exc
        audit_action(request, "define experiment", name, f"version {saved.version}: {reason}")
        return version_of(saved, now)

    @delete(
        "/{name:str}",
        summary="Stop an experiment defined through the API (retire it if it has not started)",
        status_code=200,
        sync_to_thread=True,
        responses=example_responses(ExperimentVersion, EXPERIMENT_VERSION, PROBLEM_404, PROBLEM_409),
    )
    def stop(
        self,
        request: Request[Any, Any, Any],
        experiment_admin: NamedDependency[ExperimentAdmin],
        name: ExperimentName,
        reason: Reason = "",
    ) -> ExperimentVersion:
        now = dt.datetime.now(dt.UTC)
        try:
            saved = experiment_admin.stop(name, actor(request), reason, now)
        except UnknownExperimentError as exc:
            raise NotFoundException(str(exc)) from exc
        except ExperimentConflictError as exc:
            raise ClientException(str(exc), status_code=409) from exc
        audit_action(request, "stop experiment", name, f"version {saved.version}: {reason}")
        return version_of(saved, now)

    @get(
        "/{name:str}/history",
        summary="Every version of an experiment defined through the API, oldest first",
        sync_to_thread=True,
        responses=example_responses(ExperimentHistory, EXPERIMENT_HISTORY, PROBLEM_404),
    )
    def history(
        self, experiment_admin: NamedDependency[ExperimentAdmin], name: ExperimentName
    ) -> ExperimentHistory:
        now = dt.datetime.now(dt.UTC)
        try:
            return ExperimentHistory([version_of(v, now) for v in experiment_admin.history(name)])
        except UnknownExperimentError as exc:
            raise NotFoundException(str(exc)) from exc


def actor(request: Request[Any, Any, Any]) -> str:
    return caller_of(request).key_id or "auth-off"


def version_of(stored: StoredVersion, now: dt.datetime) -> ExperimentVersion:
    definition = stored.definition
    return ExperimentVersion(
        stored.name,
        stored.version,
        stored.changed_at,
        stored.changed_by,
        stored.reason,
        info(definition, now) if definition is not None else None,
    )


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

"""The experiments a service runs, request by request (docs/experiments.md#serving): which of them a
shopper is in, what their variants change, and the ranking configuration a search then uses.

Each surface runs only the experiments that change it: search runs those whose variants change the
ranking, retrieval, fusion or the LTR model (a registry alias); recommendations those that change the
strategy or the ALS model. So a shopper is exposed to an experiment (in the response and the UBI
record) only where it can make a difference, and the analysis counts only those exposures."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec

from quarry.experiments.assignment import INTERLEAVED, Assignment, assign
from quarry.experiments.definitions import (
    DEFINITIONS_DIR,
    Changes,
    Experiment,
    InvalidExperimentsError,
    Variant,
    load_definitions,
)
from quarry.search.ranking import RankingConfig

log = logging.getLogger("quarry.experiments")

Surface = Literal["search", "recommendations"]
MEMO_LIMIT = 64
"""Ranking configurations kept per (live version, variants): a handful in practice."""


def surfaces(changes: Changes) -> set[Surface]:
    touched: set[Surface] = set()
    if changes.ranking or changes.retrieval or changes.fusion or "ltr" in changes.model_aliases:
        touched.add("search")
    if changes.recommendations or "als" in changes.model_aliases:
        touched.add("recommendations")
    return touched


class Teams(msgspec.Struct, frozen=True):
    """An interleaving experiment's two variants: `a` (the first defined) and `b`."""

    experiment: str
    a: Variant
    b: Variant


class Exposure(msgspec.Struct, frozen=True):
    """One request's experiments: the assignments, in definition order, and what the A/B ones change
    together (experiments of different layers should change different things; where two change the
    same one, the later definition wins)."""

    assignments: list[Assignment]
    changes: Changes
    label: str
    """`experiment=variant` pairs joined by `,`: part of the ranking version, so of cache keys."""
    interleaving: Teams | None = None
    """The interleaving experiment the shopper is in (one per request at most: a second one, in
    another layer, is not exposed), whose two teams' answers are merged on top of `changes`."""

    def as_attributes(self) -> dict[str, str]:
        """The UBI query record's `experiments` attribute: experiment -> variant."""
        return {a.experiment: a.variant for a in self.assignments}


def load_checked(directory: str | Path = "", ranking: RankingConfig | None = None) -> list[Experiment]:
    """The definitions in `directory` (empty: the shipped ones). Definitions the service cannot run
    are refused whole and logged: the service then runs no experiment rather than half of them
    (tests/unit load the shipped ones, so a bad file fails before it ships). `ranking`: a
    configuration every variant's changes must apply to (a value of the wrong type is refused here,
    not found by a search)."""
    try:
        found = load_definitions(RankingConfig.__struct_fields__, Path(directory or DEFINITIONS_DIR))
        if ranking is not None:
            checked = (inapplicable(ranking, e) for e in found)
            refused = [problem for problem in checked if problem]
            if refused:
                raise InvalidExperimentsError("; ".join(refused))
    except InvalidExperimentsError as exc:
        log.error("experiment definitions refused; running none", extra={"problems": str(exc)})
        return []
    return found


def status(experiment: Experiment, now: dt.datetime) -> Literal["scheduled", "running", "ended"]:
    if now < experiment.start:
        return "scheduled"
    return "running" if experiment.active(now) else "ended"


def surfaces_of(experiment: Experiment) -> list[Surface]:
    touched = set().union(*(surfaces(v.changes) for v in experiment.variants))
    return sorted(touched)


def merged(changes: Sequence[Changes]) -> Changes:
    ranking: dict[str, object] = {}
    aliases: dict[str, str] = {}
    retrieval, fusion, recommendations = None, None, None
    for change in changes:
        ranking.update(change.ranking)
        aliases.update(change.model_aliases)
        retrieval = change.retrieval or retrieval
        fusion = change.fusion or fusion
        recommendations = change.recommendations or recommendations
    return Changes(ranking, retrieval, fusion, aliases, recommendations)


class _Running(msgspec.Struct, frozen=True):
    """One set of definitions, swapped whole, so a request never sees half of a change."""

    experiments: list[Experiment]
    by_name: dict[str, Experiment]
    changes: dict[tuple[str, str], Changes]


class LiveExperiments:
    def __init__(self, experiments: Sequence[Experiment], surface: Surface, interleaves: bool = True) -> None:
        """`interleaves` False: the surface cannot serve interleaving experiments, so it runs none
        (its shoppers would be exposed to a merge that never happens)."""
        self.surface = surface
        self.interleaves = interleaves
        self._configs: dict[tuple[str, str], RankingConfig] = {}
        self._running = self._select(experiments)

    def _select(self, experiments: Sequence[Experiment]) -> _Running:
        mine = [
            e
            for e in experiments
            if any(self.surface in surfaces(v.changes) for v in e.variants)
            and (self.interleaves or e.design != "interleaving")
        ]
        return _Running(
            mine, {e.name: e for e in mine}, {(e.name, v.name): v.changes for e in mine for v in e.variants}
        )

    @property
    def experiments(self) -> list[Experiment]:
        return self._running.experiments

    def update(self, experiments: Sequence[Experiment]) -> None:
        """Run these definitions from the next request on (the admin API's changes)."""
        self._running = self._select(experiments)
        self._configs = {}

    def exposure(self, user_id: str | None, session_id: str | None, now: dt.datetime) -> Exposure | None:
        """None: the shopper is in none of this surface's experiments."""
        running = self._running
        if not running.experiments:
            return None
        teams: Teams | None = None
        assignments = []
        for assignment in assign(running.experiments, user_id, session_id, now):
            if assignment.variant == INTERLEAVED:
                if teams is not None:
                    continue
                experiment = running.by_name[assignment.experiment]
                teams = Teams(experiment.name, experiment.variants[0], experiment.variants[1])
            assignments.append(assignment)
        if not assignments:
            return None
        changes = merged(
            [running.changes[(a.experiment, a.variant)] for a in assignments if a.variant != INTERLEAVED]
        )
        label = ",".join(f"{a.experiment}={a.variant}" for a in assignments)
        return Exposure(assignments, changes, label, teams)

    def ranking(self, config: RankingConfig, exposure: Exposure) -> RankingConfig:
        """The live configuration with the exposure's changes. Its version carries the variants, so a
        variant's pages are cached, logged and recomputed apart from the live configuration's; a
        control variant that changes nothing keeps the live version (and shares its pages)."""
        changes = exposure.changes
        if not (changes.ranking or changes.retrieval or changes.fusion):
            return config
        key = (config.version, exposure.label)
        found = self._configs.get(key)
        if found is None:
            try:
                found = changed(config, changes, f"{config.version}+{exposure.label}")
            except (msgspec.ValidationError, ValueError) as exc:
                # Checked at load against the shipped configuration; a live one pushed since may not
                # take the change. The search still answers, with the live configuration.
                log.warning("variant not applicable to the live ranking", extra={"error": str(exc)})
                found = config
            if len(self._configs) >= MEMO_LIMIT:
                self._configs.clear()
            self._configs[key] = found
        return found


def changed(config: RankingConfig, changes: Changes, version: str) -> RankingConfig:
    """`config` with a variant's changes, checked as any configuration is (ValidationError or
    ValueError when they do not make one)."""
    fields = msgspec.to_builtins(config)
    fields.update(changes.ranking)
    modes = {"retrieval": changes.retrieval, "fusion": changes.fusion}
    fields.update({name: mode for name, mode in modes.items() if mode})
    fields["version"] = version
    return msgspec.convert(fields, RankingConfig)


def inapplicable(config: RankingConfig, experiment: Experiment) -> str | None:
    """Why a variant's ranking changes do not apply to `config`; None: they all do."""
    for variant in experiment.variants:
        try:
            changed(config, variant.changes, config.version)
        except (msgspec.ValidationError, ValueError) as exc:
            return f"{experiment.name}: a variant's ranking changes do not apply: {exc}"
    return None

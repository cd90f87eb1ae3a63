"""Experiments defined and stopped through the admin API (docs/experiments.md#the-admin-api), beside
the versioned files. Files are reviewed like code and fixed for the process; API definitions live in
the experiment store and reach every worker and instance within `QUARRY_EXPERIMENTS_REFRESH_S` (the
worker that took the change at once).

The rules keep an analysis sound:
- a definition is checked whole (as a file is) and against every other experiment in force, so
  layers never share units;
- an experiment may be changed only before it starts: changing variants or shares of a running one
  would mix two experiments in one readout. A running experiment can only be stopped (its `stop`
  becomes now); one that never started is retired;
- a name taken by a file cannot be defined through the API (change the file)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence

import msgspec

from quarry.experiments.definitions import Experiment, layer_problems, problems
from quarry.experiments.live import LiveExperiments, inapplicable, status
from quarry.experiments.store import ExperimentStore, StoredVersion
from quarry.refresher import Refresher
from quarry.search.ranking import RankingConfig

log = logging.getLogger("api.experiments")


class ExperimentRejectedError(ValueError):
    """The definition cannot run: every reason, joined."""


class ExperimentConflictError(RuntimeError):
    """The change is not allowed in the experiment's state (a file's, running, ended)."""


class UnknownExperimentError(LookupError):
    pass


class ExperimentAdmin:
    def __init__(
        self,
        store: ExperimentStore,
        files: Sequence[Experiment],
        in_force: list[Experiment],
        surfaces: Sequence[LiveExperiments],
        ranking: Callable[[], RankingConfig],
        refresh_s: float,
    ) -> None:
        """`in_force`: the list the service's readers share (the admin listing, the dashboard),
        replaced in place on each refresh; `surfaces`: the experiments each surface runs, updated
        with it; `ranking`: the live ranking configuration, which every variant must apply to."""
        self._store = store
        self._files = list(files)
        self._file_names = {e.name for e in files}
        self._in_force = in_force
        self._surfaces = list(surfaces)
        self._ranking = ranking
        self._lock = threading.Lock()
        self._refresher = Refresher("experiments", self.refresh, refresh_s)

    # --- serving -------------------------------------------------------------------------------------

    def refresh(self) -> list[Experiment]:
        """The files' definitions and the store's current ones, in force from the next request on. A
        stored definition the live ranking no longer takes is left out (logged), not the others."""
        with self._lock:  # read and swap together: an older read never replaces a newer one
            config = self._ranking()
            found = list(self._files)
            stored_versions = sorted(self._store.current(), key=lambda v: v.changed_at)
            for stored in stored_versions:  # oldest change first: a later clash is the one left out
                definition = stored.definition
                if definition is None or stored.name in self._file_names:
                    continue
                problem = inapplicable(config, definition) or "; ".join(layer_problems([*found, definition]))
                if problem:
                    log.error(
                        "stored experiment not run", extra={"experiment": stored.name, "problem": problem}
                    )
                    continue
                found.append(definition)
            self._in_force[:] = found
            for surface in self._surfaces:
                surface.update(found)
            return found

    def start(self) -> None:
        self._refresher.start()

    def close(self) -> None:
        self._refresher.stop()

    # --- changing ------------------------------------------------------------------------------------

    def _newest(self, name: str) -> StoredVersion | None:
        history = self._store.history(name)
        return history[-1] if history else None

    def define(self, experiment: Experiment, actor: str, reason: str, now: dt.datetime) -> StoredVersion:
        if experiment.name in self._file_names:
            raise ExperimentConflictError(f"{experiment.name!r} is defined in a file: change the file")
        newest = self._newest(experiment.name)
        if (
            newest is not None
            and newest.definition is not None
            and status(newest.definition, now) != "scheduled"
        ):
            raise ExperimentConflictError(
                f"{experiment.name!r} has started: it can be stopped, not changed (define a new one)"
            )
        found = problems(experiment, RankingConfig.__struct_fields__)
        if not found and experiment.stop <= now:  # comparable: problems() found both dates zoned
            found.append("stop is in the past: the experiment would never run")
        if not found:
            problem = inapplicable(self._ranking(), experiment)
            found += [problem] if problem else []
            others = [e for e in self.refresh() if e.name != experiment.name and e.stop > now]
            found += layer_problems([*others, experiment])
        if found:
            raise ExperimentRejectedError("; ".join(found))
        saved = self._store.save(
            experiment.name, experiment, (newest.version if newest else 0) + 1, actor, reason, now
        )
        self.refresh()
        return saved

    def stop(self, name: str, actor: str, reason: str, now: dt.datetime) -> StoredVersion:
        """A running experiment ends now; a scheduled one is retired; an ended one is left as is."""
        if name in self._file_names:
            raise ExperimentConflictError(f"{name!r} is defined in a file: change the file")
        newest = self._newest(name)
        if newest is None:
            raise UnknownExperimentError(f"no experiment {name!r} was defined through the API")
        current = newest.definition
        if current is None or status(current, now) == "ended":
            return newest
        stopped = None if status(current, now) == "scheduled" else msgspec.structs.replace(current, stop=now)
        saved = self._store.save(name, stopped, newest.version + 1, actor, reason, now)
        self.refresh()
        return saved

    def history(self, name: str) -> list[StoredVersion]:
        found = self._store.history(name)
        if not found:
            raise UnknownExperimentError(f"no experiment {name!r} was defined through the API")
        return found

"""The model registry: versions of every served artifact with their record, and four aliases.

- `candidate`: a new version, registered by its pipeline; nothing serves it;
- `shadow`: computed beside the champion on a share of live requests, never answering them;
- `canary`: answers a sticky share of users, watched by guardrails;
- `champion`: what everyone else gets. The service serves it and follows it without a restart.

Versions and their files live in Quarry's artifact store, which the service reads (its `CURRENT`
pointer is the champion, its alias file the others). Every version's record and every alias change
is mirrored to MLflow (`make mlflow`), where people browse them; the store stays the source the
service trusts, so an MLflow outage never stops serving. Each alias change is logged with its reason,
so a rollback knows what the champion was before.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import msgspec

from pipelines.registry.mirror import RegistryMirror
from quarry.adapters.artifact_store import ArtifactNotFoundError, ArtifactStore, version_built_at
from quarry.model_aliases import ALIASES, CHAMPION, AliasChange

log = logging.getLogger("pipelines.registry")
ROLLBACK = "rollback: "
VERSION_PATTERN = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}")
"""A store version id (quarry/adapters/artifact_store.py new_version): nothing else names a folder."""


class RegistryError(ValueError):
    """An unknown alias or version, or a rollback with nothing to return to."""


class RegisteredVersion(msgspec.Struct):
    name: str
    version: str
    aliases: list[str]
    built_at: str | None
    metrics: dict[str, Any]
    data_window: dict[str, Any]


class ModelRegistry:
    def __init__(self, store: ArtifactStore, mirror: RegistryMirror | None = None) -> None:
        self.store = store
        self.mirror = mirror

    def _metadata(self, name: str, version: str) -> dict[str, Any]:
        if not VERSION_PATTERN.fullmatch(version):
            raise RegistryError(f"not a version id: {version!r}")
        try:
            return self.store.metadata(name, version)
        except ArtifactNotFoundError as exc:
            raise RegistryError(f"{name} has no version {version}") from exc

    def register(self, name: str, version: str, measured: dict[str, float] | None = None) -> None:
        """A published version becomes the `candidate` (and is recorded in the mirror). `measured`:
        metrics taken after publishing (a gate that had to serve the version to score it), merged
        into its record first, so that the store and the mirror's run both carry them. Nothing
        serves a version before it is registered, so its record can still change in place."""
        metadata = self._metadata(name, version)
        if measured:
            metrics = {**(metadata.get("metrics") or {}), **measured}
            self.store.redact(name, version, {}, {"metrics": metrics})
        self.set_alias(name, "candidate", version, reason="registered by its pipeline")

    def set_alias(self, name: str, alias: str, version: str | None, reason: str) -> AliasChange:
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; one of {', '.join(ALIASES)}")
        metadata = self._metadata(name, version) if version is not None else None
        change = self.store.set_alias(name, alias, version, reason)
        if self.mirror is not None:
            try:  # the store has changed and serves; the mirror catches up on the next change
                if version is not None and metadata is not None:
                    self.mirror.record(name, version, metadata)
                self.mirror.set_alias(name, alias, version)
            except Exception as exc:
                log.warning(
                    "the registry mirror did not take an alias change",
                    extra={"artifact": name, "alias": alias, "version": version, "error": repr(exc)},
                )
        log.info("alias moved", extra=msgspec.to_builtins(change))
        return change

    def aliases(self, name: str) -> dict[str, str]:
        return self.store.aliases(name)

    def versions(self, name: str) -> list[RegisteredVersion]:
        aliases = self.aliases(name)
        out = []
        for version in self.store.versions(name):
            metadata = self._metadata(name, version)
            built = version_built_at(version)
            out.append(
                RegisteredVersion(
                    name=name,
                    version=version,
                    aliases=sorted(a for a, v in aliases.items() if v == version),
                    built_at=dt.datetime.fromtimestamp(built, dt.UTC).isoformat() if built else None,
                    metrics=dict(metadata.get("metrics") or {}),
                    data_window=dict(metadata.get("data_window") or {}),
                )
            )
        return out

    def show(self, name: str, version: str) -> dict[str, Any]:
        aliases = self.aliases(name)
        return {
            **self._metadata(name, version),
            "aliases": sorted(a for a, v in aliases.items() if v == version),
        }

    def rollback(self, name: str, reason: str) -> AliasChange:
        """The champion goes back to the version it replaced when it was promoted (the alias log
        says which); a second rollback goes back one more."""
        current = self.aliases(name).get(CHAMPION)
        for change in reversed(self.store.alias_log(name)):
            promoted = change.alias == CHAMPION and change.version == current
            if promoted and change.previous and not change.reason.startswith(ROLLBACK):
                return self.set_alias(name, CHAMPION, change.previous, reason=f"{ROLLBACK}{reason}")
        raise RegistryError(f"{name}: no earlier champion to roll back to")

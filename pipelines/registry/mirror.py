"""Where people browse the registry: MLflow's tracking and model registry (`make mlflow`), behind a
small interface so that the registry's logic runs against an in-memory mirror in unit tests; both
pass the same contract tests (tests/integration/test_registry_mirror_contract.py).

Each artifact is an MLflow registered model (`quarry-<artifact>`); each Quarry version one MLflow
run (parameters, metrics, tags with its data window, code commit and input snapshot, and its
metadata file as the run's artifact) and one model version tagged with the Quarry version id.
Aliases on the MLflow model versions follow the registry's. The artifacts themselves stay in
Quarry's store, which the service reads; MLflow's model version points at the run's record.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Protocol

QUARRY_VERSION_TAG = "quarry_version"
MODEL_PREFIX = "quarry-"


class RegistryMirror(Protocol):
    def record(self, name: str, version: str, metadata: dict[str, Any]) -> None: ...
    def set_alias(self, name: str, alias: str, version: str | None) -> None: ...
    def aliases(self, name: str) -> dict[str, str]: ...
    def recorded(self, name: str) -> list[str]: ...


class MemoryMirror:
    """The mirror as plain dicts, for unit tests of the registry's logic."""

    def __init__(self) -> None:
        self.versions: dict[str, dict[str, dict[str, Any]]] = {}
        self._aliases: dict[str, dict[str, str]] = {}

    def record(self, name: str, version: str, metadata: dict[str, Any]) -> None:
        self.versions.setdefault(name, {}).setdefault(version, dict(metadata))

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        if version is not None and version not in self.versions.get(name, {}):
            raise KeyError(f"{name} {version} is not recorded")
        aliases = self._aliases.setdefault(name, {})
        if version is None:
            aliases.pop(alias, None)
        else:
            aliases[alias] = version

    def aliases(self, name: str) -> dict[str, str]:
        return dict(self._aliases.get(name, {}))

    def recorded(self, name: str) -> list[str]:
        return sorted(self.versions.get(name, {}))


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


class MlflowMirror:
    """The registry in MLflow, on its own SQLite database and artifact folder (no server needed to
    write; `make mlflow` serves the UI over the same files)."""

    def __init__(self, tracking_uri: str, artifact_root: str) -> None:
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._artifact_root = artifact_root

    def _model(self, name: str) -> str:
        return MODEL_PREFIX + name

    def _experiment(self, name: str) -> str:
        title = self._model(name)
        found = self._client.get_experiment_by_name(title)
        if found is not None:
            return str(found.experiment_id)
        return str(self._client.create_experiment(title, artifact_location=f"{self._artifact_root}/{title}"))

    def _mlflow_version(self, name: str, version: str) -> str | None:
        found = self._client.search_model_versions(
            f"name = '{self._model(name)}' and tags.{QUARRY_VERSION_TAG} = '{version}'"
        )
        return str(found[0].version) if found else None

    def record(self, name: str, version: str, metadata: dict[str, Any]) -> None:
        """Idempotent: a version already recorded is left as it is."""
        from mlflow.exceptions import MlflowException

        model = self._model(name)
        try:
            self._client.get_registered_model(model)
        except MlflowException:
            self._client.create_registered_model(model, description=f"Quarry's {name} artifact")
        if self._mlflow_version(name, version) is not None:
            return
        flat: dict[str, Any] = {}
        _flat("", metadata, flat)
        run = self._client.create_run(
            self._experiment(name),
            run_name=version,
            tags={
                QUARRY_VERSION_TAG: version,
                "code_commit": str(metadata.get("code_commit", "")),
                "data_window": json.dumps(metadata.get("data_window", {}), default=str)[:5000],
                "input_snapshot": json.dumps(metadata.get("input_snapshot", {}), default=str)[:5000],
            },
        )
        run_id = run.info.run_id
        for key, value in flat.items():
            if key.startswith("parameters.") and value is not None:
                self._client.log_param(run_id, key.removeprefix("parameters."), str(value)[:500])
            elif (
                key.startswith("metrics.") and isinstance(value, int | float) and not isinstance(value, bool)
            ):
                self._client.log_metric(run_id, key.removeprefix("metrics."), float(value))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "metadata.json"
            path.write_text(json.dumps(metadata, indent=2, default=str))
            self._client.log_artifact(run_id, str(path))
        self._client.set_terminated(run_id)
        self._client.create_model_version(
            model,
            source=f"{run.info.artifact_uri}/metadata.json",
            run_id=run_id,
            tags={QUARRY_VERSION_TAG: version},
            description=f"Quarry {name} {version}",
        )

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        model = self._model(name)
        if version is None:
            if alias in self.aliases(name):
                self._client.delete_registered_model_alias(model, alias)
            return
        number = self._mlflow_version(name, version)
        if number is None:
            raise KeyError(f"{name} {version} is not recorded")
        self._client.set_registered_model_alias(model, alias, number)

    def aliases(self, name: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            registered = self._client.get_registered_model(self._model(name))
        except MlflowException:
            return {}
        out = {}
        for alias, number in (registered.aliases or {}).items():
            version = self._client.get_model_version(self._model(name), str(number))
            out[alias] = str(version.tags.get(QUARRY_VERSION_TAG, ""))
        return out

    def recorded(self, name: str) -> list[str]:
        found = self._client.search_model_versions(f"name = '{self._model(name)}'")
        return sorted(str(v.tags.get(QUARRY_VERSION_TAG, "")) for v in found)

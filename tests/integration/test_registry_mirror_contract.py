"""One contract for the registry's mirrors: MLflow's real tracking store and registry (its SQLite
database and artifact folder, as `make mlflow` serves them) and the in-memory one of the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pipelines.registry.mirror import MemoryMirror, MlflowMirror, RegistryMirror

METADATA = {
    "parameters": {"factors": 64, "iterations": 20},
    "metrics": {"heldout_ndcg_at_10": 0.071, "training_seconds": 1.5},
    "data_window": {
        "from": "2026-11-01T00:00:00+00:00",
        "to": "2026-11-30T00:00:00+00:00",
        "interactions": 900,
    },
    "code_commit": "abc123",
}


@pytest.fixture(params=["memory", "mlflow"])
def mirror(request, tmp_path) -> Iterator[RegistryMirror]:
    makers: dict[str, Callable[[], RegistryMirror]] = {
        "memory": MemoryMirror,
        "mlflow": lambda: MlflowMirror(
            f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri()
        ),
    }
    yield makers[request.param]()


def test_recorded_versions_are_listed_once(mirror) -> None:
    mirror.record("als", "v1", METADATA)
    mirror.record("als", "v2", METADATA)
    mirror.record("als", "v1", METADATA)  # idempotent
    assert mirror.recorded("als") == ["v1", "v2"]
    assert mirror.recorded("faiss") == []


def test_aliases_point_at_versions_and_move(mirror) -> None:
    for version in ("v1", "v2"):
        mirror.record("als", version, METADATA)
    mirror.set_alias("als", "champion", "v1")
    mirror.set_alias("als", "canary", "v2")
    assert mirror.aliases("als") == {"champion": "v1", "canary": "v2"}
    mirror.set_alias("als", "champion", "v2")
    mirror.set_alias("als", "canary", None)
    assert mirror.aliases("als") == {"champion": "v2"}


def test_an_alias_to_an_unrecorded_version_is_refused(mirror) -> None:
    mirror.record("als", "v1", METADATA)
    with pytest.raises(KeyError):
        mirror.set_alias("als", "champion", "v9")
    assert mirror.aliases("als") == {}


def test_mlflow_keeps_the_record_people_browse(tmp_path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowMirror(uri, (tmp_path / "artifacts").as_uri()).record("als", "v1", METADATA)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (version,) = client.search_model_versions("name = 'quarry-als'")
    run = client.get_run(version.run_id)
    assert run.data.params == {"factors": "64", "iterations": "20"}
    assert run.data.metrics["heldout_ndcg_at_10"] == pytest.approx(0.071)
    assert run.data.tags["code_commit"] == "abc123" and '"interactions": 900' in run.data.tags["data_window"]

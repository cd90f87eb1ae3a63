"""Airflow reads its configuration from the environment when first imported: this module sets it
before any test imports Airflow. The tests get a metadata database of their own (`airflow_test` in
the local PostgreSQL of ops/pgctl) and an Airflow home under var/, so `make airflow`'s is untouched."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.orchestration.environment import environment
from quarry.settings import PROJECT_ROOT, get_settings, load_settings

TEST_DATABASE = "airflow_test"
DAGS = PROJECT_ROOT / "dags"


def _configure() -> None:
    settings = load_settings()
    pgctl = str(PROJECT_ROOT / "ops" / "pgctl")
    subprocess.run([pgctl, "start"], check=True)
    subprocess.run([pgctl, "ensure-db", TEST_DATABASE], check=True)
    env = environment(settings, TEST_DATABASE)
    env["AIRFLOW_HOME"] = str(settings.var_path / "airflow-test")
    env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(settings.var_path / "log" / "airflow-test")
    os.environ.update(env)


_configure()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database (seconds when it is current already)."""
    airflow = str(Path(PROJECT_ROOT) / ".venv" / "bin" / "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def quarry_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Tasks run in this process under dag.test() and read the settings through get_settings(): a
    test sets QUARRY_* variables here and the cache is cleared around it."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()

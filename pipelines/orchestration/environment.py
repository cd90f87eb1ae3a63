"""Airflow's configuration, derived from Quarry's settings: `make airflow` (ops/airflowctl) and the DAG
tests start Airflow with exactly this environment, so the UI, the scheduler, the task processes and
the tests agree on the database, the DAG folder and the secrets.

Airflow's processes authenticate to each other with JWTs: every one of them must hold the same
secret, or tasks fail against the execution API. The secrets derive from one host secret in
var/keys (made once, mode 600), like the API's; the metadata database's password is ops/pgctl's.

`python -m pipelines.orchestration.environment --shell` prints the variables as shell exports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shlex
import sys
from pathlib import Path
from urllib.parse import quote

from quarry.host_secrets import host_secret
from quarry.settings import PROJECT_ROOT, Settings, get_settings

DAGS_FOLDER = PROJECT_ROOT / "dags"
ADMIN_USER = "admin"
DATABASE = "airflow"


def airflow_home(settings: Settings) -> Path:
    return settings.var_path / "airflow"


def database_password_file(settings: Settings) -> Path:
    """Made by ops/pgctl when it creates the `airflow` role."""
    return settings.var_path / "keys" / "airflow-db.password"


def admin_password_file(settings: Settings) -> Path:
    return settings.var_path / "keys" / "airflow-admin.password"


def database_url(settings: Settings, database: str = DATABASE) -> str:
    """QUARRY_AIRFLOW_DB_URL when set; otherwise the local PostgreSQL's database `database`."""
    if settings.airflow_db_url:
        return settings.airflow_db_url
    password = quote(database_password_file(settings).read_text().strip(), safe="")
    return f"postgresql+psycopg2://airflow:{password}@127.0.0.1:{settings.postgres_port}/{database}"


def _derived(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, purpose.encode(), hashlib.sha256).digest()


def admin_password(settings: Settings) -> str:
    return host_secret("", "the Airflow admin password", admin_password_file(settings)).decode()


def environment(settings: Settings, database: str = DATABASE) -> dict[str, str]:
    """Every AIRFLOW_* variable Quarry sets (and PYTHONPATH, so task processes import the project)."""
    home = airflow_home(settings)
    master = host_secret("", "the Airflow secret", settings.var_path / "keys" / "airflow.secret")
    base = f"http://127.0.0.1:{settings.airflow_port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # LocalExecutor runs tasks as child processes of the scheduler: one machine, no broker.
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # they run themselves
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(_derived(master, "fernet")).decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(settings, database),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": _derived(master, "api").hex(),
        "AIRFLOW__API_AUTH__JWT_SECRET": _derived(master, "jwt").hex(),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.var_path / "log" / "airflow"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }


def write_passwords_file(settings: Settings) -> None:
    """The simple auth manager's users and passwords, written before Airflow starts so that it never
    generates (and prints) a password of its own."""
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "passwords.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({ADMIN_USER: admin_password(settings)}, handle)


def main(argv: list[str]) -> int:
    settings = get_settings()
    if argv[:1] == ["--shell"]:
        write_passwords_file(settings)
        for name, value in environment(settings, *argv[1:2]).items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if argv[:1] == ["--login"]:
        print(f"{ADMIN_USER} / {admin_password(settings)}")
        return 0
    print(
        "usage: python -m pipelines.orchestration.environment --shell [DATABASE] | --login", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

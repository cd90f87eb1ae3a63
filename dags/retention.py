"""Retention, daily: daily event indices and logged searches older than their retention windows
(QUARRY_EVENTS_RETENTION_DAYS, QUARRY_QUERY_LOG_RETENTION_DAYS) are deleted (docs/privacy.md)."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="retention",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "privacy"],
    default_args=task_defaults(dt.timedelta(minutes=30)),
    doc_md=__doc__,
)
def retention() -> None:
    @task
    def drop_expired() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.retention()

    drop_expired()


retention()

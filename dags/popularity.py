"""Popularity every 5 minutes: each product's decayed event score in the live index and the
per-department popular lists in Redis (which expire 15 minutes after the last run, so a stalled DAG shows)."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="popularity",
    schedule="*/5 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "features"],
    default_args=task_defaults(dt.timedelta(minutes=4), retries=1, first_retry=dt.timedelta(seconds=30)),
    doc_md=__doc__,
)
def popularity() -> None:
    @task
    def compute_popularity() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.popularity()

    compute_popularity()


popularity()

"""ALS recommendations, daily: implicit ALS trained on the last 30 days of events and published as a
new versioned artifact."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="als",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "recommendations", "models"],
    default_args=task_defaults(dt.timedelta(hours=1)),
    doc_md=__doc__,
)
def als() -> None:
    @task
    def train_als() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.train_als()

    train_als()


als()

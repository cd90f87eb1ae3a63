"""Users' category affinity, daily: decayed category weights per user from their events (consent
honoured: opted-out and erased users are left out), written to Redis for personalization."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="user_affinity",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "features", "personalization"],
    default_args=task_defaults(dt.timedelta(minutes=30)),
    doc_md=__doc__,
)
def user_affinity() -> None:
    @task
    def compute_affinity() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.user_affinity()

    compute_affinity()


user_affinity()

"""The query-understanding vocabulary, daily: spelling dictionary, entity vocabularies and
suggestions from the catalog and from past queries that were followed by clicks."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="vocabulary",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "query-understanding", "models"],
    default_args=task_defaults(dt.timedelta(hours=1)),
    doc_md=__doc__,
)
def vocabulary() -> None:
    @task
    def build_vocabulary() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.vocabulary()

    build_vocabulary()


vocabulary()

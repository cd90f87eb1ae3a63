"""Catalog embeddings, weekly: only new or changed product text is encoded (the rest is copied from
the live index version); the new version goes live by an alias swap once complete, with its FAISS
artifact, so searches never see a half-encoded catalog (zero downtime)."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="embeddings",
    schedule="@weekly",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "semantic", "models"],
    default_args=task_defaults(dt.timedelta(hours=3)),
    doc_md=__doc__,
)
def embeddings() -> None:
    @task
    def encode_catalog() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.embeddings()

    encode_catalog()


embeddings()

"""Catalog priors, daily: products ranked by rating (shrunk by review count), reviews and freshness
per department, published as a versioned artifact. The recommendations fall back to them before any
events exist (cold start), and fill up short popular lists."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="catalog_priors",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "recommendations", "cold-start"],
    default_args=task_defaults(dt.timedelta(minutes=30)),
    doc_md=__doc__,
)
def catalog_priors() -> None:
    @task
    def rank_catalog() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.catalog_priors()

    rank_catalog()


catalog_priors()

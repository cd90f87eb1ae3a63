"""Data quality, hourly: schema, freshness, completeness and volume of the UBI events and logged
searches, the catalog (duplicate ids, prices <= 0, empty titles, broken category paths) and drift
(PSI) of popularity and of the embeddings. Results go to the `quarry-data-quality` index and the
Pushgateway; a failed critical check fails the run (docs/pipelines.md#data-quality). `events_index`
and `products_alias` check other copies (a replay, a staging catalog)."""

import datetime as dt

from airflow.sdk import Param, dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="data_quality",
    schedule="@hourly",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "data-quality"],
    params={
        "events_index": Param("ubi_events", type="string", description="the UBI events to check"),
        "products_alias": Param("", type="string", description="the catalog to check; empty: the live one"),
    },
    default_args=task_defaults(dt.timedelta(minutes=20), retries=1),
    doc_md=__doc__,
)
def data_quality() -> None:
    @task(retries=0)  # a data fault is not transient: one run, one alert
    def run_checks() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        params = get_current_context()["params"]
        return tasks.data_quality("all", str(params["events_index"]), str(params["products_alias"]))

    run_checks()


data_quality()

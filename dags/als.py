"""ALS recommendations, daily: the events are checked first (schema, freshness, completeness: the
`training` data-quality suite), and a failed critical check stops the run before training; then
implicit ALS is trained on the last 30 days of events, registered as the `candidate`, and made the
`champion` only when the promotion gate passes (held-out NDCG@10 not worse than the champion's;
docs/model-lifecycle.md). `events_index` trains on another copy of the events (a replay, a staging
index), checked first like the live ones."""

import datetime as dt

from airflow.sdk import Param, dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="als",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "recommendations", "models"],
    params={"events_index": Param("ubi_events", type="string", description="the events the gate checks")},
    default_args=task_defaults(dt.timedelta(hours=1)),
    doc_md=__doc__,
)
def als() -> None:
    @task(retries=0)  # a data fault is not transient: fail at once, stop training
    def check_training_data() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        return tasks.data_quality("training", str(get_current_context()["params"]["events_index"]))

    @task
    def train_als() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        return tasks.train_als(str(get_current_context()["params"]["events_index"]))

    check_training_data() >> train_als()


als()

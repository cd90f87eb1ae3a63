"""Backfill, when triggered with a date range: popularity and users' affinity recomputed over the
events inside it (for example after replaying late events with `make events-replay`). They go to
the live index and Redis, so the range must end today; one that ends in the past is refused."""

import datetime as dt

from airflow.sdk import Param, dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="backfill",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "features", "backfill"],
    params={
        "start": Param(type="string", format="date", description="first day of the window (UTC)"),
        "end": Param(type="string", format="date", description="last day of the window (UTC, included)"),
    },
    default_args=task_defaults(dt.timedelta(hours=2), retries=1),
    doc_md=__doc__,
)
def backfill() -> None:
    @task
    def recompute_features() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        params = get_current_context()["params"]
        return tasks.backfill(str(params["start"]), str(params["end"]))

    recompute_features()


backfill()

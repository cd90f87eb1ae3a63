"""Model promotion, every 10 minutes: one look at every served artifact's `shadow` and `canary`.
A canary whose guardrails broke against the champion's traffic (error rate, p95 latency, zero
results, CTR, add-to-cart rate) is rolled back at once, with the findings recorded as the reason; one
that passed over the minimum sample becomes champion; a shadow that agrees with the champion well
enough becomes the canary (docs/model-lifecycle.md). `events_index` reads the clicks and carts
from another copy of the UBI events (a replay, a staging index)."""

import datetime as dt

from airflow.sdk import Param, dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="model_promotion",
    schedule="*/10 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "models"],
    params={"events_index": Param("ubi_events", type="string", description="the UBI events to credit")},
    default_args=task_defaults(dt.timedelta(minutes=5)),
    doc_md=__doc__,
)
def model_promotion() -> None:
    @task
    def watch_shadows_and_canaries() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        return tasks.model_promotion(str(get_current_context()["params"]["events_index"]))

    watch_shadows_and_canaries()


model_promotion()

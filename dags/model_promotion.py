"""Model promotion, every 10 minutes: one look at every served artifact's `shadow` and `canary`.
A canary whose guardrails broke against the champion's traffic (error rate, p95 latency, zero
results, CTR, add-to-cart rate) is rolled back at once, with the findings recorded as the reason; one
that passed over the minimum sample becomes champion; a shadow that agrees with the champion well
enough becomes the canary (docs/model-lifecycle.md)."""

import datetime as dt

from airflow.sdk import dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="model_promotion",
    schedule="*/10 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "models"],
    default_args=task_defaults(dt.timedelta(minutes=5)),
    doc_md=__doc__,
)
def model_promotion() -> None:
    @task
    def watch_shadows_and_canaries() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.model_promotion()

    watch_shadows_and_canaries()


model_promotion()

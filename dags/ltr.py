"""Learning to rank, weekly (docs/ltr.md): past searches that feature logging missed are replayed
(bounded), the ranker is trained on golden grades and click-model judgments with cross-validation
against the formula, and the model is registered as the `ltr` candidate and moved to shadow when the
offline gate passes (it must beat the formula on the same examples). From there the
`model_promotion` DAG's watch takes it to canary and champion on live evidence, as for ALS
(docs/ltr.md#promotion)."""

import datetime as dt

from airflow.sdk import Param, dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="ltr",
    schedule="@weekly",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "search", "models"],
    params={
        "replay_days": Param(7, type="integer", minimum=0, description="replay searches of the last N days")
    },
    default_args=task_defaults(dt.timedelta(hours=2)),
    doc_md=__doc__,
)
def ltr() -> None:
    @task
    def replay_features() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        return tasks.ltr_replay(int(get_current_context()["params"]["replay_days"]))

    @task
    def train_ltr() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.train_ltr()

    replay_features() >> train_ltr()


ltr()

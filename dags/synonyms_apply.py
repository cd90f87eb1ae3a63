"""Synonym edits go live, when triggered (by a merchandiser's change, from the UI or the API): the
files are validated, a new index version is built with the new rules and swapped in with zero
downtime, and the impact preview (hits and top-10 overlap per affected query, before and after) is
kept as the run's artifact. `dry_run` builds and previews without swapping."""

import datetime as dt

from airflow.sdk import Param, dag, task

from pipelines.orchestration.defaults import START, task_defaults


@dag(
    dag_id="synonyms_apply",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "synonyms", "merchandising"],
    params={"dry_run": Param(False, type="boolean", description="preview only; the alias stays")},
    default_args=task_defaults(dt.timedelta(hours=1), retries=1),
    doc_md=__doc__,
)
def synonyms_apply() -> None:
    @task
    def check_files() -> dict[str, object]:
        from pipelines.orchestration import tasks

        return tasks.synonyms_check()

    @task
    def apply_synonyms() -> dict[str, object]:
        from airflow.sdk import get_current_context

        from pipelines.orchestration import tasks

        context = get_current_context()
        return tasks.synonyms_apply(bool(context["params"]["dry_run"]), str(context["run_id"]))

    check_files() >> apply_synonyms()


synonyms_apply()

"""The callables behind the DAGs' tasks: each reads the settings, runs one job from pipelines/jobs.py
and returns what it did (JSON-able: Airflow keeps it as the task's result). Kept apart from the DAG
files so that a DAG file parses without importing any of this."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipelines import jobs
from pipelines.features import AFFINITY, POPULARITY
from quarry.settings import get_settings


def popularity() -> dict[str, Any]:
    return jobs.features(get_settings(), frozenset({POPULARITY}))


def user_affinity() -> dict[str, Any]:
    return jobs.features(get_settings(), frozenset({AFFINITY}))


def vocabulary() -> dict[str, Any]:
    result = jobs.vocabulary(get_settings())
    return {k: result.get(k) for k in ("artifact", "version", "rebuilt", "promoted", "gate")}


def embeddings() -> dict[str, Any]:
    return jobs.embeddings(get_settings())


def catalog_priors() -> dict[str, Any]:
    result = jobs.catalog_priors(get_settings())
    return {k: result.get(k) for k in ("artifact", "version", "metrics", "data_window")}


def train_als(events_index: str | None = None) -> dict[str, Any]:
    result = jobs.train_als(get_settings(), events_index=events_index or None)
    return {
        k: result.get(k) for k in ("artifact", "version", "promoted_to", "gate", "metrics", "data_window")
    }


def ltr_replay(days: int, limit: int = 2000) -> dict[str, Any]:
    return jobs.ltr_replay(get_settings(), days, limit)


def train_ltr() -> dict[str, Any]:
    from pipelines.ltr.job import train_ltr

    return train_ltr(get_settings())


def model_promotion(events_index: str | None = None) -> dict[str, Any]:
    """One look at every served artifact's shadow and canary (pipelines/registry/watch.py)."""
    return jobs.model_promotion(get_settings(), events_index=events_index or None)


def data_quality(
    suite: str, events_index: str | None = None, products_alias: str | None = None
) -> dict[str, Any]:
    """Fails (DataQualityError) when a critical check fails, which stops the tasks after it."""
    return jobs.data_quality(
        get_settings(), suite, events_index=events_index or None, products_alias=products_alias or None
    )


def retention() -> dict[str, Any]:
    return jobs.retention(get_settings())


def synonyms_apply(dry_run: bool, run_id: str) -> dict[str, Any]:
    """The impact preview is kept as the run's artifact, a markdown file under
    var/airflow/artifacts/synonyms_apply/<run id>.md, and its path returned with the result."""
    settings = get_settings()
    result = jobs.synonyms_apply(settings, dry_run=dry_run)
    directory = settings.var_path / "airflow" / "artifacts" / "synonyms_apply"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{safe_name(run_id)}.md"
    verb = "Preview (dry run, nothing applied)" if dry_run else "Applied"
    refused = bool(result["changed_terms"]) and not dry_run and not result["applied"]
    if refused:
        verb = "Refused by the golden gate (the live synonyms keep serving)"
    terms = ", ".join(result["changed_terms"]) or "none: the files match the live index"
    gate = "".join(f"- {reason}\n" for reason in result["gate"])
    path.write_text(
        f"# {verb}: synonym edits\n\nChanged terms: {terms}\n\n{gate}\n{result['impact_markdown']}\n"
    )
    if refused:
        raise RuntimeError(f"synonym edits refused by the golden gate: {'; '.join(result['gate'])} ({path})")
    return {**{k: v for k, v in result.items() if k != "impact_markdown"}, "impact_preview": str(path)}


def backfill(start: str, end: str, today: dt.date | None = None) -> dict[str, Any]:
    """Popularity and affinity recomputed over the events from `start` to `end` (ISO dates, whole
    UTC days), for example after late events were replayed. They are written to the live index and
    Redis, so `end` must reach today: a window that ends in the past would replace today's features
    with a past state."""
    since, until = parse_window(start, end)
    today = today or dt.datetime.now(dt.UTC).date()
    if until.date() <= today:
        raise ValueError(
            f"backfill window {start} .. {end} ends before today ({today}): the live features would "
            "go back to that state; end the window today"
        )
    until = min(until, dt.datetime.now(dt.UTC))
    window_days = (until - since).total_seconds() / 86400
    return jobs.features(
        get_settings(), frozenset({POPULARITY, AFFINITY}), window_days=window_days, now=until
    )


def parse_window(start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """A backfill window of whole UTC days, `end` included; refuses an empty or inverted one."""
    since = dt.datetime.combine(dt.date.fromisoformat(start), dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(dt.date.fromisoformat(end), dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
    if until <= since:
        raise ValueError(f"backfill window {start} .. {end} is empty: start must not be after end")
    return since, until


def safe_name(run_id: str) -> str:
    """A run id as a file name (manual run ids hold ':' and '+')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)[:200] or "run"


class SynonymFileError(ValueError):
    """The synonym files hold errors; nothing is built from them."""


def synonyms_check() -> dict[str, Any]:
    """Fails the run on any error in synonyms/ (each named by file and line in the message)."""
    rules, errors, warnings = jobs.synonyms_check(get_settings())
    if errors:
        raise SynonymFileError("; ".join(errors))
    return {"rules": rules, "warnings": warnings}

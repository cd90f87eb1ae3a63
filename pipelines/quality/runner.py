"""Runs a suite of data-quality checks and sends the results where people and machines look: the
results index (`quarry-data-quality`), the Pushgateway (Prometheus metrics, alert
`QuarryDataQualityCheckFailed`, the Grafana dashboard "Quarry data quality") and the caller, which
fails the Airflow task when a critical check fails, so that training downstream does not run.

Suites:
- `training`: what a model trained on events needs: the events' schema, freshness and completeness;
- `all`: that, plus the logged searches, the volume of events against previous days, the catalog,
  and drift of popularity and of the embeddings.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from pipelines.quality import checks, drift
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.cache import KeyValueStore
from quarry.adapters.search_engine import SearchEngine, index_action
from quarry.data_quality import INDEX, MAPPING, CheckResult
from quarry.redis_keys import user_affinity_key
from quarry.ubi import UBI_EVENTS, UBI_QUERIES

log = logging.getLogger("pipelines.quality")

WINDOW = dt.timedelta(hours=1)
REFERENCE_AGE = dt.timedelta(hours=20)
"""Drift compares with this check's result at least this old (the run of about a day ago)."""
SUITES = ("training", "all")
JOB = "quarry_data_quality"


class Targets(msgspec.Struct, frozen=True):
    """What the checks look at: the live stores by default; a copy or a test's own indices otherwise."""

    products_alias: str
    mappings_dir: str
    events_index: str = UBI_EVENTS
    queries_index: str = UBI_QUERIES
    vectors_artifact: str = "faiss"
    affinity_keys: str = user_affinity_key("*")


class DataQualityError(RuntimeError):
    """A critical check failed: what depends on the data must not run."""


def _guarded(run: Callable[[], CheckResult], check: str, target: str) -> CheckResult:
    """A check that breaks is an `error` result (critical), never a crash of the whole suite."""
    try:
        return run()
    except Exception as exc:  # any failure of a check is reported as its result
        log.exception("data-quality check broke", extra={"check": check, "target": target})
        return CheckResult(check=check, target=target, severity="critical", status="error", message=repr(exc))


def reference(engine: SearchEngine, check: str, target: str, now: dt.datetime) -> dict[str, Any] | None:
    """The details this check kept with its latest result at least REFERENCE_AGE old."""
    if not engine.index_exists(INDEX):
        return None
    found = engine.search(
        INDEX,
        {
            "size": 1,
            "sort": [{"at": "desc"}],
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"check": check}},
                        {"term": {"target": target}},
                        {"range": {"at": {"lte": (now - REFERENCE_AGE).isoformat()}}},
                    ]
                }
            },
        },
    )
    if not found.hits:
        return None
    details: dict[str, Any] | None = found.hits[0].source.get("details") or None
    return details if details and "edges" in details else None


def run_suite(
    engine: SearchEngine,
    artifacts: ArtifactStore,
    targets: Targets,
    suite: str,
    now: dt.datetime | None = None,
    ubi_engine: SearchEngine | None = None,
    kv: KeyValueStore | None = None,
) -> list[CheckResult]:
    """`engine`: the search cluster (products, results); `ubi_engine`: the one holding the events
    and logged searches when it is another (QUARRY_UBI_OPENSEARCH_URL); `kv`: Redis, where the
    online features are (without it, their drift is not checked)."""
    ubi = ubi_engine or engine
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; one of {SUITES}")
    now = now or dt.datetime.now(dt.UTC)
    mappings = Path(targets.mappings_dir)
    events, queries = targets.events_index, targets.queries_index
    # Freshness and volume both look at the same hour on previous days: counted once, when first asked.
    history = functools.cache(lambda: checks.hourly_counts(ubi, events, now, checks.VOLUME_DAYS))
    planned: list[tuple[str, str, Callable[[], CheckResult]]] = [
        ("schema", events, lambda: checks.schema(ubi, events, mappings / "ubi_events.json")),
        ("freshness", events, lambda: checks.freshness(ubi, events, now, history())),
        (
            "completeness",
            events,
            lambda: checks.completeness(ubi, events, now, checks.EVENT_FIELDS, WINDOW, events=True),
        ),
    ]
    if suite == "all":
        alias = targets.products_alias
        planned += [
            ("schema", queries, lambda: checks.schema(ubi, queries, mappings / "ubi_queries.json")),
            (
                "completeness",
                queries,
                lambda: checks.completeness(ubi, queries, now, checks.QUERY_FIELDS, WINDOW),
            ),
            ("volume", events, lambda: checks.volume(ubi, events, now, history())),
            ("schema", alias, lambda: checks.schema(engine, alias, mappings / "products.json")),
            ("catalog", alias, lambda: checks.catalog(engine, alias)),
            (
                "drift_popularity",
                alias,
                lambda: drift.popularity_drift(
                    engine, alias, reference(engine, "drift_popularity", alias, now)
                ),
            ),
            (
                "drift_embedding_norms",
                targets.vectors_artifact,
                lambda: drift.embedding_norm_drift(artifacts, targets.vectors_artifact),
            ),
        ]
        if kv is not None:
            keys = targets.affinity_keys
            planned.append(
                (
                    "drift_affinity",
                    keys,
                    lambda: drift.affinity_drift(kv, keys, reference(engine, "drift_affinity", keys, now)),
                )
            )
    run_id = uuid.uuid4().hex
    at = now.isoformat()
    return [
        msgspec.structs.replace(_guarded(run, check, target), at=at, run_id=run_id)
        for check, target, run in planned
    ]


def record(engine: SearchEngine, results: list[CheckResult]) -> None:
    """One document per result in the results index (made on first use)."""
    if not results:
        return
    if not engine.index_exists(INDEX):
        engine.create_index(INDEX, MAPPING)
    body = b"".join(
        index_action(INDEX, f"{r.run_id}-{n}", msgspec.to_builtins(r)) for n, r in enumerate(results)
    )
    engine.bulk(body)
    engine.refresh(INDEX)


def push_metrics(results: list[CheckResult], url: str, suite: str) -> bool:
    """Per check: failing (1 while it fails or broke, else 0) and what it observed; per suite: when
    it last ran. One push replaces the suite's previous metrics."""
    from prometheus_client import CollectorRegistry, Gauge

    from pipelines.orchestration.callbacks import push

    if not url:
        return False
    registry = CollectorRegistry()
    labels = ("check", "target", "level")  # level: the check's severity (alerts own `severity`)
    failing = Gauge("quarry_data_quality_failing", "1 while the check fails", labels, registry=registry)
    observed = Gauge("quarry_data_quality_observed", "What the check measured", labels, registry=registry)
    last_run = Gauge(
        "quarry_data_quality_last_run_timestamp_seconds", "When the suite last ran", registry=registry
    )
    for result in results:
        values = (result.check, result.target, result.severity)
        failing.labels(*values).set(1 if result.status in ("fail", "error") else 0)
        if result.observed is not None:
            observed.labels(*values).set(result.observed)
    last_run.set_to_current_time()
    return push(url, JOB, registry, {"suite": suite}, replace=True)


def summary(results: list[CheckResult]) -> dict[str, Any]:
    return {
        "results": [{k: v for k, v in msgspec.to_builtins(r).items() if k != "details"} for r in results],
        "blocking": [f"{r.check} on {r.target}: {r.message}" for r in results if r.blocking],
    }


def enforce(results: list[CheckResult]) -> None:
    blocking = [r for r in results if r.blocking]
    if blocking:
        raise DataQualityError(
            "critical data-quality checks failed: "
            + "; ".join(f"{r.check} on {r.target}: {r.message}" for r in blocking)
        )

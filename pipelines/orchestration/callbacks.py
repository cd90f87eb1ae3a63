"""What a DAG run tells the monitoring: every task outcome becomes a metric on the Prometheus
Pushgateway (batch jobs are gone before Prometheus could scrape them), and a failure also a
structured ERROR log line. The alert itself is a Prometheus rule on these metrics
(ops/prometheus/rules.yml, `QuarryPipelineTaskFailed`), so it reaches Alertmanager like every other
Quarry alert, with its runbook (docs/pipelines.md).

The metrics are last-outcome timestamps per DAG and task, the Pushgateway's pattern for batch jobs:
a counter pushed from short-lived processes would restart at each push. A task is failing while its
last failure is newer than its last success.

A callback must never fail the task or hide its error: a Pushgateway that does not answer is logged
and skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("pipelines.orchestration")

JOB = "quarry_pipelines"
LAST_FAILURE = "quarry_pipeline_last_failure_timestamp_seconds"
LAST_SUCCESS = "quarry_pipeline_last_success_timestamp_seconds"
PUSH_TIMEOUT_S = 5.0


def _ids(context: Mapping[str, Any]) -> tuple[str, str, str]:
    instance = context.get("task_instance") or context.get("ti")
    dag_id = str(getattr(instance, "dag_id", None) or getattr(context.get("dag"), "dag_id", "unknown"))
    task_id = str(getattr(instance, "task_id", None) or "unknown")
    run_id = str(getattr(instance, "run_id", None) or context.get("run_id") or "")
    return dag_id, task_id, run_id


def push(url: str, job: str, registry: Any, grouping_key: dict[str, str], replace: bool = False) -> bool:
    """Push a registry's metrics (`replace`: the group's previous metrics go); False, logged, when
    the Pushgateway cannot be reached: a metric must never fail the job that reports it."""
    from prometheus_client import push_to_gateway, pushadd_to_gateway

    send = push_to_gateway if replace else pushadd_to_gateway
    try:
        send(url, job=job, registry=registry, grouping_key=grouping_key, timeout=PUSH_TIMEOUT_S)
    except OSError as exc:
        log.warning(
            "the Pushgateway did not take the metrics", extra={"url": url, "job": job, "error": str(exc)}
        )
        return False
    return True


def push_outcome(dag_id: str, task_id: str, failed: bool, url: str, at: float | None = None) -> bool:
    """Record a task's outcome on the Pushgateway; False when it could not be reached."""
    from prometheus_client import CollectorRegistry, Gauge

    if not url:
        return False
    registry = CollectorRegistry()
    name, text = (LAST_FAILURE, "last failed") if failed else (LAST_SUCCESS, "last succeeded")
    gauge = Gauge(name, f"When the pipeline task {text} (Unix time)", registry=registry)
    gauge.set(time.time() if at is None else at)
    return push(url, JOB, registry, {"dag_id": dag_id, "task_id": task_id})


def on_failure(context: Mapping[str, Any]) -> None:
    """Airflow's on_failure_callback for every Quarry task."""
    from quarry.settings import get_settings

    dag_id, task_id, run_id = _ids(context)
    exception = context.get("exception")
    log.error(
        "pipeline task failed",
        extra={"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "error": repr(exception)},
    )
    push_outcome(dag_id, task_id, failed=True, url=get_settings().pushgateway_url)


def on_success(context: Mapping[str, Any]) -> None:
    """Airflow's on_success_callback: clears the task's failing state in the metrics."""
    from quarry.settings import get_settings

    dag_id, task_id, _ = _ids(context)
    push_outcome(dag_id, task_id, failed=False, url=get_settings().pushgateway_url)

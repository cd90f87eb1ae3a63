"""`GET /metrics` in the Prometheus text format, for every worker of the process group."""

from __future__ import annotations

import os

from litestar import Controller, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return REGISTRY


class MetricsController(Controller):
    path = "/metrics"
    opt = {"scope": "metrics"}  # noqa: RUF012

    @get(include_in_schema=False, sync_to_thread=True)  # merging the workers' files reads the disk
    def metrics(self) -> Response[bytes]:
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

from __future__ import annotations

import msgspec


class Liveness(msgspec.Struct):
    status: str


class DependencyCheck(msgspec.Struct):
    name: str
    ok: bool
    latency_ms: float
    detail: str


class Readiness(msgspec.Struct):
    """`ready` needs OpenSearch and the products alias; Redis, or a separate analytics cluster for the
    UBI logs, down only adds to `degraded`."""

    status: str
    ready: bool
    degraded: list[str]
    checks: list[DependencyCheck]

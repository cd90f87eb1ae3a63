"""The API process as `make up` runs it (`python -m api`), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from pipelines.catalog.generator import generate_catalog
from pipelines.indexing.versions import build_from_documents
from tests.conftest import running_api


@contextmanager
def api(**env: str) -> Iterator[str]:
    with running_api(**env) as (base, _, _):
        yield base


def test_ready_when_opensearch_and_alias_exist(engine, settings, alias) -> None:
    build_from_documents(
        engine, settings, alias, ((p.product_id, p.to_document()) for p in generate_catalog(20, 1)), []
    )
    with api(QUARRY_PRODUCTS_ALIAS=alias) as base:
        live = httpx.get(f"{base}/health/live")
        ready = httpx.get(f"{base}/health/ready")
    assert live.status_code == 200 and live.json() == {"status": "live"}
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["ready"], body["degraded"]) == ("ready", True, [])
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"opensearch": True, "redis": True}


def test_redis_down_is_degraded_but_ready(engine, settings, alias) -> None:
    build_from_documents(
        engine, settings, alias, ((p.product_id, p.to_document()) for p in generate_catalog(20, 1)), []
    )
    with api(QUARRY_PRODUCTS_ALIAS=alias, QUARRY_REDIS_URL="redis://127.0.0.1:1/0") as base:
        ready = httpx.get(f"{base}/health/ready")
    assert ready.status_code == 200
    assert (ready.json()["status"], ready.json()["degraded"]) == ("degraded", ["redis"])


def test_missing_alias_is_not_ready(engine, auth_headers) -> None:
    with api(QUARRY_PRODUCTS_ALIAS="qt-never-built") as base:
        ready = httpx.get(f"{base}/health/ready")
        schema = httpx.get(f"{base}/schema/openapi.json", headers=auth_headers)
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert "/health/ready" in schema.json()["paths"]

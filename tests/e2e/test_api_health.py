"""The API process as `make up` runs it (`python -m api`), over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from pipelines.catalog.generator import generate_catalog
from pipelines.indexing.versions import build_from_documents

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api(**env: str) -> Iterator[str]:
    port = free_port()
    environment = {**os.environ, "QUARRY_API_PORT": str(port), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


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


def test_missing_alias_is_not_ready(engine) -> None:
    with api(QUARRY_PRODUCTS_ALIAS="qt-never-built") as base:
        ready = httpx.get(f"{base}/health/ready")
        schema = httpx.get(f"{base}/schema/openapi.json")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert "/health/ready" in schema.json()["paths"]

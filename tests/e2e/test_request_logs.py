"""Every log line of a request carries its trace id; the search line carries what on-call needs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_search_log_line_has_the_request_context(demo_catalog) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "QUARRY_API_PORT": str(port),
        "QUARRY_API_WORKERS": "1",
        "QUARRY_PRODUCTS_ALIAS": demo_catalog.products_alias,
        "QUARRY_ARTIFACTS_DIR": demo_catalog.artifacts_dir,
        "QUARRY_CACHE_WARM_QUERIES": "0",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        response = httpx.get(
            f"{base}/v1/search",
            params={"q": "velvet sofa", "user_id": "u-42"},
            headers={"traceparent": TRACEPARENT},
        )
        time.sleep(0.3)
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert response.status_code == 200
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    search = [line for line in lines if line.get("event") == "search"]
    assert len(search) == 1, output[-2000:]
    line = search[0]
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c" == response.headers["x-trace-id"]
    assert line["user_id"] == "u-42" and line["service"] == "quarry-api" and line["level"] == "info"
    assert line["request_id"] and line["timestamp"].endswith("Z")
    assert line["query"] == "velvet sofa" and line["results_count"] == response.json()["total"]
    assert line["cache_hit"] is False and line["latency_ms"] > 0

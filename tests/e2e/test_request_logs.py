"""Every log line of a request carries its trace id; the search line carries what on-call needs."""

from __future__ import annotations

import json
import time

import httpx

from tests.conftest import running_api

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_search_log_line_has_the_request_context(demo_catalog) -> None:
    with running_api(
        QUARRY_API_WORKERS="1",
        QUARRY_PRODUCTS_ALIAS=demo_catalog.products_alias,
        QUARRY_ARTIFACTS_DIR=demo_catalog.artifacts_dir,
    ) as (base, output, _):
        response = httpx.get(
            f"{base}/v1/search",
            params={"q": "velvet sofa", "user_id": "u-42"},
            headers={"traceparent": TRACEPARENT},
        )
        time.sleep(0.3)
    assert response.status_code == 200
    lines = [json.loads(line) for line in output if line.startswith("{")]
    search = [line for line in lines if line.get("event") == "search"]
    assert len(search) == 1, output[-20:]
    line = search[0]
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c" == response.headers["x-trace-id"]
    assert line["user_id"] == "u-42" and line["service"] == "quarry-api" and line["level"] == "info"
    assert line["request_id"] and line["timestamp"].endswith("Z")
    assert line["query"] == "velvet sofa" and line["results_count"] == response.json()["total"]
    assert line["cache_hit"] is False and line["latency_ms"] > 0

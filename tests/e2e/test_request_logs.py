"""Every log line of a request carries its trace id; the search line carries what on-call needs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import running_api

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_search_log_line_has_the_request_context(demo_catalog, auth_headers, pseudonyms) -> None:
    with running_api(
        QUARRY_API_WORKERS="1",
        QUARRY_PRODUCTS_ALIAS=demo_catalog.products_alias,
        QUARRY_ARTIFACTS_DIR=demo_catalog.artifacts_dir,
    ) as (base, output, _):
        response = httpx.get(
            f"{base}/v1/search",
            params={"q": "velvet sofa", "user_id": "u-42"},
            headers={"traceparent": TRACEPARENT, **auth_headers},
        )
        time.sleep(0.3)
    assert response.status_code == 200
    lines = [json.loads(line) for line in output if line.startswith("{")]
    search = [line for line in lines if line.get("event") == "search"]
    assert len(search) == 1, output[-20:]
    line = search[0]
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c" == response.headers["x-trace-id"]
    # the pseudonym (docs/privacy.md): the log names no shopper
    assert line["user_id"] == pseudonyms.user("u-42") and not any("u-42" in raw for raw in output)
    assert line["service"] == "quarry-api" and line["level"] == "info"
    assert line["request_id"] and line["timestamp"].endswith("Z")
    assert line["query"] == "velvet sofa" and line["results_count"] == response.json()["total"]
    assert line["cache_hit"] is False and line["latency_ms"] > 0


# The one-liner docs/observability.md gives on-call: every line of one request, from the API's log
# (non-JSON lines, e.g. a crash before logging was configured, are skipped, not fatal).
TRACE_QUERY = ["jq", "-cR", "--arg", "t", "{trace_id}", "fromjson? | select(.trace_id == $t)"]


def test_the_documented_jq_query_finds_every_line_of_a_request(demo_catalog, tmp_path, auth_headers) -> None:
    with running_api(
        QUARRY_API_WORKERS="1",
        QUARRY_PRODUCTS_ALIAS=demo_catalog.products_alias,
        QUARRY_ARTIFACTS_DIR=demo_catalog.artifacts_dir,
    ) as (base, output, _):
        other = httpx.get(f"{base}/v1/search", params={"q": "velvet sofa"}, headers=auth_headers)
        response = httpx.get(
            f"{base}/v1/search",
            params={"q": "qwzxvj plorf"},
            headers={"traceparent": TRACEPARENT, **auth_headers},
        )
        time.sleep(0.3)
    log = tmp_path / "api.log"
    log.write_text("\n".join(["not json at all", *output]) + "\n")
    command = [part.format(trace_id=response.headers["x-trace-id"]) for part in TRACE_QUERY]
    found = subprocess.run([*command, str(log)], capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in found.splitlines()]
    assert {line["event"] for line in lines} >= {"zero results", "search"}  # this request logs both
    assert {line["trace_id"] for line in lines} == {"0af7651916cd43dd8448eb211c80319c"}
    assert other.headers["x-trace-id"] not in found
    documented = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    assert "jq -cR --arg t <trace_id> 'fromjson? | select(.trace_id == $t)'" in documented

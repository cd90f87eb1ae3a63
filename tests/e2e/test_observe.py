"""`make observe` on a real rule engine: Debian's Prometheus with the shipped configuration scrapes a
running API and the OpenSearch exporter, loads every rule, and evaluates the recording rules on
what it scraped."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from quarry.api_keys import temporary_key
from tests.conftest import free_port, running_api

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "ops" / "prometheus"


def wait_for(check: Any, what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
            if found:
                return found
        except (httpx.TransportError, ValueError):  # not listening yet, or "not ready" in plain text
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def exporter() -> Iterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen([str(ROOT / "ops" / "opensearch-exporter"), listen])
    try:
        yield listen
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_prometheus_scrapes_the_api_and_evaluates_quarrys_rules(
    demo_catalog, exporter, pushgateway, tmp_path, api_keys, auth_headers
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: make test installs Debian's prometheus"
    shipped = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    with (
        running_api(
            QUARRY_API_WORKERS="2",
            QUARRY_PRODUCTS_ALIAS=demo_catalog.products_alias,
            QUARRY_ARTIFACTS_DIR=demo_catalog.artifacts_dir,
        ) as (base, _, _),
        temporary_key(api_keys, "prometheus test", ("metrics",)) as metrics_token,
    ):
        # The shipped configuration, pointed at this test's API and exporter and scraping faster.
        config = dict(shipped)
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(PROMETHEUS / name) for name in shipped["rule_files"]]
        targets = {
            "quarry-api": base.removeprefix("http://"),
            "opensearch": exporter,
            "pushgateway": pushgateway.removeprefix("http://"),
        }
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        # The shipped scrape sends the key `make up` leaves for it; here a key with that one scope.
        (api_job,) = (job for job in config["scrape_configs"] if job["job_name"] == "quarry-api")
        assert api_job["authorization"]["credentials_file"].endswith("var/keys/metrics.token")
        token_file = tmp_path / "metrics.token"
        token_file.write_text(metrics_token)
        api_job["authorization"]["credentials_file"] = str(token_file)
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        api = f"http://127.0.0.1:{port}/api/v1"
        try:

            def targets_up() -> bool:
                active = httpx.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
                return {t["labels"]["job"] for t in active if t["health"] == "up"} == set(targets)

            wait_for(targets_up, "every target up")
            for query in ("running shoes", "tent", "qwzxvj plorf", "sofa") * 5:
                httpx.get(f"{base}/v1/search", params={"q": query}, headers=auth_headers, timeout=10)

            def query(expr: str) -> list[dict[str, Any]]:
                result: list[dict[str, Any]] = httpx.get(
                    f"{api}/query", params={"query": expr}, timeout=5
                ).json()["data"]["result"]
                return result

            def number(expr: str) -> float | None:
                """The expression's value once it is a number (NaN until rates see traffic)."""
                found = query(expr)
                value = float(found[0]["value"][1]) if found else math.nan
                return None if math.isnan(value) else value

            # Recording rules evaluated by the real engine on scraped data.
            latency = wait_for(lambda: number("quarry:http_latency_p99:5m"), "the p99 recording rule")
            assert 0 < latency < 5

            # Both counters of the ratio exist from start-up (quarry.metrics.initialize_series), so
            # the ratio is right from its first value, not inflated while one series is young.
            zero = wait_for(lambda: number("quarry:zero_result:ratio_rate10m"), "the zero-result ratio")
            assert 0.15 < zero < 0.35  # a quarter of the searches found nothing
            assert query('elasticsearch_cluster_health_status{color="green"}')
            # Every alert of rules.yml is loaded and healthy.
            groups = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
            loaded = {r["name"]: r["health"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
            shipped_alerts = {
                r["alert"]
                for g in yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
                for r in g["rules"]
                if "alert" in r
            }
            assert set(loaded) == shipped_alerts
            assert wait_for(lambda: all(h == "ok" for h in _health(api).values()), "rules evaluated")
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=20)


def _health(api: str) -> dict[str, str]:
    groups = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
    return {r["name"]: r["health"] for g in groups for r in g["rules"]}

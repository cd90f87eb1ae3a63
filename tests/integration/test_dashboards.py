"""Grafana dashboards under version control: well-formed, valid PromQL (checked by promtool), and
every metric they query is one the running service (or the OpenSearch exporter) really exposes."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

import quarry.metrics
from tests.conftest import make_event, running_api

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "ops" / "grafana" / "dashboards").glob("*.json"))
WANTED = {
    "quarry-overview",
    "quarry-search",
    "quarry-recommendations",
    "quarry-opensearch",
    "quarry-cache",
    "quarry-pipelines",
}

# PromQL words that are not metric names.
_FUNCTIONS_AND_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "group",
    "count_values", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless", "bool", "offset", "time", "rate", "irate", "increase", "delta", "deriv",
    "histogram_quantile", "max_over_time", "min_over_time", "avg_over_time", "abs", "clamp_min",
    "clamp_max", "vector", "scalar", "label_replace", "inf", "nan",
}  # fmt: skip


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def concrete(expr: str) -> str:
    """The expression Prometheus would run: Grafana's interval variable filled in."""
    return expr.replace("$__rate_interval", "5m")


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects: strings, label matchers, ranges, grouping
    clauses and function names removed, what remains are metric names (and recording rules)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', concrete(expr))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word, rest = match.group(0), text[match.end() :].lstrip()
        if word.lower() in _FUNCTIONS_AND_KEYWORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


def test_the_name_extraction_finds_metrics_and_skips_promql_words() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_seconds_bucket{route="/x",le!="1"}[5m])))'
        " / ignoring(route) group_left sum(rate(b_total[$__rate_interval])) > bool 0 and on() c:rule"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c:rule"}


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_the_dashboards_are_well_formed() -> None:
    assert {p.stem for p in DASHBOARDS} == WANTED
    uids = set()
    for path in DASHBOARDS:
        dashboard = load(path)
        assert dashboard["uid"] == path.stem and dashboard["title"].startswith("Quarry / ")
        uids.add(dashboard["uid"])
        assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            assert panel["targets"], f"{path.name}: panel {panel['title']!r} has no query"
            assert panel["datasource"]["uid"] == "${datasource}"
            assert all(t["expr"].strip() for t in panel["targets"])
    assert len(uids) == len(DASHBOARDS)


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: make test installs Debian's prometheus"
    rules = [
        {"record": f"dashboard:check:{n}", "expr": concrete(expr)}
        for n, expr in enumerate(e for path in DASHBOARDS for e in expressions(load(path)))
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def exposed(text: str) -> set[str]:
    """Metric names a /metrics page offers: every sample's name, and the series names of families
    declared (HELP/TYPE) but without samples yet (a labelled counter nothing has incremented)."""
    names = set()
    suffixes = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.update([name, *(name + s for s in suffixes.get(kind, ()))])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


@pytest.fixture(scope="module")
def opensearch_exporter() -> Iterator[str]:
    """Debian's elasticsearch_exporter against the test OpenSearch, as `make observe` runs it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{sock.getsockname()[1]}"
    process = subprocess.Popen([str(ROOT / "ops" / "opensearch-exporter"), listen])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                text = httpx.get(f"http://{listen}/metrics", timeout=5).text
                if "elasticsearch_cluster_health_status" in text:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "exporter did not start"
            time.sleep(0.3)
        yield f"http://{listen}/metrics"
    finally:
        process.terminate()
        process.wait(timeout=10)


def exercise(client: Any) -> None:
    """Traffic that touches every feature a dashboard shows."""
    client.get("/v1/search", params={"q": "runnig shoes"})
    client.get("/v1/search", params={"q": "runnig shoes"})  # a cache hit
    client.get("/v1/search", params={"q": "qwzxvj plorf"})  # zero results
    client.get("/v1/suggest", params={"q": "run"})
    client.get("/v1/recommendations", params={"user_id": "u-dashboards"})
    event = make_event(user_id="u-dashboards")
    client.post("/v1/events", json={"events": [event]})
    client.post("/v1/events", json={"events": [event]})  # a duplicate
    client.post("/v1/events", json={"events": [{"event_id": "bad"}]})  # rejected


@pytest.fixture(scope="module")
def pipeline_metrics(pushgateway: str) -> str:
    """What the pipelines push (a task's outcomes, a data-quality run), through their own code, as
    the Pushgateway serves it to Prometheus."""
    from pipelines.orchestration.callbacks import push_outcome
    from pipelines.quality.runner import push_metrics
    from quarry.data_quality import CheckResult

    assert push_outcome("popularity", "compute_popularity", failed=False, url=pushgateway)
    assert push_outcome("als", "train_als", failed=True, url=pushgateway)
    result = CheckResult(check="volume", target="ubi_events", severity="warning", status="pass", observed=3.0)
    assert push_metrics([result], pushgateway, "all")
    return httpx.get(f"{pushgateway}/metrics", timeout=5).text


def test_dashboards_query_only_metrics_that_exist(
    api_client, opensearch_exporter: str, pipeline_metrics: str
) -> None:
    exercise(api_client)
    available = exposed(api_client.get("/metrics").text) | exposed(httpx.get(opensearch_exporter).text)
    available |= exposed(pipeline_metrics)
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "rules.yml").read_text())["groups"]
    available |= {r["record"] for g in rules for r in g["rules"] if "record" in r}
    missing = {
        (path.name, name)
        for path in DASHBOARDS
        for expr in expressions(load(path))
        for name in metric_names(expr)
        if name not in available
    }
    assert not missing, sorted(missing)
    # The check has teeth: an expression over a name no source offers is caught.
    assert metric_names("sum(rate(quarry_no_such_metric_total[5m]))") - available == {
        "quarry_no_such_metric_total"
    }


# Labels Prometheus adds to every series it scrapes (the target's labels).
TARGET_LABELS = {"instance", "job"}
_QUOTED = r'"(?:\\.|[^"\\])*"'


def exposed_labels(text: str) -> dict[str, set[str]]:
    """Label names each metric's samples carry on a /metrics page."""
    labels: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        if not rest:
            labels.setdefault(line.split()[0], set())
            continue
        matchers = rest.rsplit("}", 1)[0]
        labels.setdefault(name, set()).update(
            re.findall(rf"([a-zA-Z_][a-zA-Z0-9_]*)\s*=~?\s*{_QUOTED}", matchers)
        )
    return labels


def declared_labels() -> dict[str, set[str]]:
    """The label names Quarry's own metrics are declared with (quarry/metrics.py), per series name: a
    family without samples yet (no artifact loaded on a fresh machine, say) is missing from /metrics
    but its dashboards are still right."""
    declared: dict[str, set[str]] = {}
    for metric in vars(quarry.metrics).values():
        if isinstance(metric, MetricWrapperBase):
            names = set(metric._labelnames)
            for suffix in ("", "_total", "_count", "_sum", "_created"):
                declared[metric._name + suffix] = names
            declared[metric._name + "_bucket"] = names | {"le"}
    return declared


def used_labels(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """The labels an expression matches on, per metric (`name{label=...}`), and the labels its
    grouping and vector-matching clauses name (`by`, `without`, `on`, `ignoring`)."""
    text = concrete(expr)
    selected: dict[str, set[str]] = {}
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{((?:[^}\"]|" + _QUOTED + r")*)\}", text):
        names = re.findall(rf"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*{_QUOTED}", match.group(2))
        selected.setdefault(match.group(1), set()).update(names)
    grouped = {
        label.strip()
        for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text)
        for label in clause.split(",")
        if label.strip()
    }
    return selected, grouped


def label_problems(expr: str, labels: dict[str, set[str]]) -> list[str]:
    selected, grouped = used_labels(expr)
    problems = [
        f"{name} has no label {label!r}"
        for name, wanted in selected.items()
        for label in wanted - labels.get(name, set()) - TARGET_LABELS
    ]
    offered = set(TARGET_LABELS).union(*(labels.get(name, set()) for name in metric_names(expr)))
    problems += [f"no series in the expression has label {label!r}" for label in grouped - offered]
    return problems


def test_the_label_checks_catch_a_misspelt_label() -> None:
    labels = {"a_total": {"route", "status_class"}, "b_bucket": {"le", "operation"}}
    assert label_problems('sum by (route) (rate(a_total{status_class="5xx"}[5m]))', labels) == []
    assert label_problems('sum(rate(a_total{status="5xx"}[5m]))', labels) == ["a_total has no label 'status'"]
    assert label_problems("sum by (le, operatoin) (rate(b_bucket[5m]))", labels) == [
        "no series in the expression has label 'operatoin'"
    ]
    assert label_problems("sum by (instance) (rate(a_total[5m]))", labels) == []  # added at scrape


def test_dashboards_use_only_labels_their_metrics_have(
    demo_catalog, opensearch_exporter: str, pipeline_metrics: str, auth_headers: dict[str, str]
) -> None:
    """Against `python -m api` with two workers, as deployed: multiprocess gauges carry `pid` there."""
    with (
        running_api(QUARRY_API_WORKERS="2") as (base, _, _),
        httpx.Client(base_url=base, timeout=30, headers=auth_headers) as client,
    ):
        exercise(client)
        labels = exposed_labels(client.get("/metrics").text)
    sources = (
        exposed_labels(httpx.get(opensearch_exporter).text),
        exposed_labels(pipeline_metrics),
        declared_labels(),
    )
    for source in sources:
        for name, names in source.items():
            labels.setdefault(name, set()).update(names)
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "rules.yml").read_text())["groups"]
    for rule in (r for g in rules for r in g["rules"] if "record" in r):
        labels[rule["record"]] = used_labels(rule["expr"])[1] - {"le"}  # what the rule keeps
    problems = {
        (path.name, problem)
        for path in DASHBOARDS
        for expr in expressions(load(path))
        for problem in label_problems(expr, labels)
    }
    assert not problems, sorted(problems)

"""Prometheus rules and Alertmanager routing, checked with the real tools (Debian's prometheus and
prometheus-alertmanager packages, installed by provisioning)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "ops" / "prometheus"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: make test installs Debian's prometheus / prometheus-alertmanager"
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=PROMETHEUS, capture_output=True, text=True, check=False)


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = run(tool("promtool"), "check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(tool("promtool"), "test", "rules", "rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    """Each alert needs a promtool case where it fires and one where it must stay silent."""
    cases = [
        case
        for test in yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for rule in alerts():
        expected = [case["exp_alerts"] for case in cases if case["alertname"] == rule["alert"]]
        assert any(expected), f"{rule['alert']}: no case where it fires"
        assert [] in expected, f"{rule['alert']}: no case where it must stay silent"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: str(r["alert"]))
def test_every_alert_has_a_severity_and_a_runbook(rule: dict[str, object]) -> None:
    labels, annotations = rule["labels"], rule["annotations"]
    assert isinstance(labels, dict) and labels["severity"] in {"page", "ticket"}
    assert isinstance(annotations, dict)
    runbook = ROOT / str(annotations["runbook_url"])
    assert runbook.name == f"{rule['alert']}.md" and runbook.is_file()
    body = runbook.read_text()
    for section in ("What it means", "How to confirm", "First actions", "Escalation"):
        assert section in body, f"{runbook.name} lacks '{section}'"


def test_alertmanager_routes_pages_and_tickets() -> None:
    checked = run(tool("amtool"), "check-config", "alertmanager.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for severity, receiver in (("page", "pager"), ("ticket", "tickets")):
        routed = run(
            tool("amtool"),
            "config",
            "routes",
            "test",
            "--config.file=alertmanager.yml",
            f"severity={severity}",
        )
        assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr

"""`make security-audit`: a static security scan, known vulnerabilities of the locked dependencies,
and schemathesis over every API operation with a key holding every scope (admin included).

Writes reports/security-audit.{json,md} and exits non-zero when any part finds something.

Schemathesis calls the admin API for real (it issues, rotates and revokes keys, adds and removes
access-list entries), so it runs against an API process of its own whose key, access-list and audit
indices carry a prefix of their own (QUARRY_SECURITY_INDICES_PREFIX): nothing it does can revoke a
real key or deny a real address. Those indices are deleted at the end.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import msgspec

from quarry import connections
from quarry.access_lists import access_index
from quarry.api_keys import SCOPES, ApiKeys, OpenSearchKeyStore, keys_index
from quarry.audit import audit_index
from quarry.settings import PROJECT_ROOT, Settings

log = logging.getLogger("pipelines.security_audit")
SCANNED = ("api", "quarry", "pipelines", "dags")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 30
BIN = Path(sys.executable).parent


class Finding(msgspec.Struct, frozen=True):
    where: str
    what: str
    detail: str = ""


class Section(msgspec.Struct, frozen=True):
    name: str
    ran: bool
    summary: str
    findings: list[Finding] = msgspec.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.ran and not self.findings


class Report(msgspec.Struct, frozen=True):
    commit: str
    generated_at: str
    sections: list[Section]


def _run(command: list[str], timeout_s: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _uv() -> list[str]:
    """uv as the Makefile found it (UV), else on PATH, else the bootstrap Python's module."""
    if os.environ.get("UV"):
        return shlex.split(os.environ["UV"])
    return [found] if (found := shutil.which("uv")) else ["python3", "-m", "uv"]


def static_scan() -> Section:
    """Ruff's flake8-bandit rules (S) over the code that ships; a finding the code accepts carries a
    `# noqa: S…` with its reason on the line, so what is left is new."""
    done = _run([str(BIN / "ruff"), "check", "--select", "S", "--output-format", "json", *SCANNED])
    if done.returncode not in (0, 1):  # 1: findings; anything else: ruff did not scan
        return Section("static scan (ruff S rules)", False, f"ruff failed: {done.stderr.strip()[-300:]}")
    found = json.loads(done.stdout)
    findings = [
        Finding(
            f"{Path(f['filename']).relative_to(PROJECT_ROOT)}:{f['location']['row']}", f["code"], f["message"]
        )
        for f in found
    ]
    return Section(
        "static scan (ruff S rules, bandit's checks)",
        True,
        f"{len(findings)} findings in {', '.join(SCANNED)}",
        findings,
    )


def dependency_scan() -> Section:
    """pip-audit over the locked dependencies (the default groups `make up` installs), asking PyPI's
    vulnerability data (OSV): this needs PyPI, which the machine reaches; offline it says so."""
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        exported = _run(
            [*_uv(), "export", "--locked", "--no-hashes", "--no-emit-project",
             "--format", "requirements-txt", "--output-file", str(requirements)]
        )  # fmt: skip
        if exported.returncode != 0:
            return Section(
                "dependencies (pip-audit)", False, f"uv export failed: {exported.stderr.strip()[-300:]}"
            )
        attempts = []
        for service in ("pypi", "osv"):
            done = _run(
                [str(BIN / "pip-audit"), "--requirement", str(requirements), "--no-deps", "--disable-pip",
                 "--vulnerability-service", service, "--format", "json", "--progress-spinner", "off"]
            )  # fmt: skip
            try:
                dependencies = json.loads(done.stdout).get("dependencies", [])
            except json.JSONDecodeError:
                attempts.append(f"{service}: {(done.stderr.strip().splitlines() or ['no output'])[-1][:200]}")
                continue
            audited = [d for d in dependencies if not d.get("skip_reason")]
            if audited:
                return _vulnerabilities(service, dependencies, audited)
            reason = dependencies[0]["skip_reason"] if dependencies else "nothing to audit"
            attempts.append(f"{service}: every package skipped ({reason[:120]})")
    return Section(
        "dependencies (pip-audit)",
        False,
        "no vulnerability data reachable from this machine, so no dependency check ran: "
        + "; ".join(attempts),
    )


def _vulnerabilities(
    service: str, dependencies: list[dict[str, Any]], audited: list[dict[str, Any]]
) -> Section:
    findings = [
        Finding(
            f"{d['name']} {d.get('version', '?')}",
            v["id"],
            f"fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'}; "
            f"{' '.join(v.get('aliases') or [])}",
        )
        for d in audited
        for v in d.get("vulns", [])
    ]
    skipped = [
        Finding(d["name"], "not audited", d["skip_reason"]) for d in dependencies if d.get("skip_reason")
    ]
    return Section(
        f"dependencies (pip-audit, {service} data)",
        True,
        f"{len(audited)} of {len(dependencies)} locked packages audited, "
        f"{len(findings)} known vulnerabilities",
        findings + skipped,
    )


KEY_ENDING = ("DELETE /admin/keys/{key_id}", "POST /admin/keys/{key_id}/rotate")
"""Operations that can end the key a run uses (schemathesis reuses the ids earlier answers list):
they get a pass of their own, last, with a key of their own."""


def api_scan(settings: Settings) -> Section:
    from pipelines.bench.api_process import start_api

    prefix = f"quarry-audit-{uuid.uuid4().hex[:8]}"
    engine = connections.search_engine(settings)
    keys = ApiKeys(OpenSearchKeyStore(engine, keys_index(prefix)))
    process, port = start_api(300, QUARRY_SECURITY_INDICES_PREFIX=prefix, QUARRY_API_WORKERS="1")
    findings: list[Finding] = []
    operations, cases, warnings = 0, 0, []
    try:
        for name, selection in (
            ("every other operation", [arg for op in KEY_ENDING for arg in ("--exclude-name", op)]),
            ("key revocation and rotation", [arg for op in KEY_ENDING for arg in ("--include-name", op)]),
        ):
            token = keys.create(f"make security-audit: {name}", SCOPES, search_per_minute=10**8).token
            found, counted, generated, warned = _schemathesis(port, token, selection)
            findings += found
            operations += counted
            cases += generated
            warnings += [f"{name}: {w}" for w in warned]
        return Section(
            "API (schemathesis, every operation with an all-scope key)",
            True,
            f"{operations} operations, {cases} test cases; checks: {CHECKS}"
            + (f"; warnings: {' | '.join(warnings)}" if warnings else ""),
            findings,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        for index in (keys_index(prefix), access_index(prefix), audit_index(prefix)):
            if engine.index_exists(index):
                engine.delete_index(index)


def _schemathesis(port: int, token: str, selection: list[str]) -> tuple[list[Finding], int, int, list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        done = _run(
            [str(BIN / "schemathesis"), "run", f"http://127.0.0.1:{port}/schema/openapi.json",
             "--header", f"Authorization: Bearer {token}", "--checks", CHECKS, *selection,
             "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing",
             "--report", "junit", "--report-dir", folder, "--seed", "15", "--no-color"]
        )  # fmt: skip
        reports = sorted(Path(folder).glob("*.xml"))
        if not reports:
            raise RuntimeError(f"schemathesis did not report: {done.stdout[-800:]}")
        findings, operations = _junit_findings(reports[0])
    lines = [line.strip() for line in done.stdout.splitlines()]
    generated = next((int(m.group(1)) for line in lines if (m := re.match(r"(\d+) generated", line))), 0)
    # Schemathesis's warnings (operations only ever answered 401, or mostly 4xx) say where the run
    # could not reach the code; they are reported with the result.
    warnings = [line.removeprefix("⚠️").strip() for line in lines if line.startswith("⚠️")]
    return findings, operations, generated, warnings


def _junit_findings(path: Path) -> tuple[list[Finding], int]:
    root = ET.parse(path).getroot()  # noqa: S314 - our own tool's report, not untrusted input
    findings = []
    cases = root.iter("testcase")
    count = 0
    for case in cases:
        count += 1
        for problem in [*case.iter("failure"), *case.iter("error")]:
            text = (problem.text or problem.get("message") or "").strip()
            findings.append(Finding(case.get("name", "?"), problem.tag, text[:2000]))
    return findings, count


def _headline(detail: str) -> str:
    """A finding's line that says what failed (schemathesis: `- ST105 Undocumented Content-Type`)."""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    return next((line.lstrip("- ") for line in lines if line.startswith("- ")), lines[0] if lines else "")


def markdown(report: Report) -> str:
    lines = [
        "# Security audit",
        "",
        f"Commit `{report.commit}`, {report.generated_at}. `make security-audit` "
        "(pipelines/security_audit.py); what each part does: docs/security.md#audit.",
        "",
        "| part | ran | result | findings |",
        "| --- | --- | --- | --- |",
    ]
    for section in report.sections:
        verdict = "pass" if section.passed else ("not run" if not section.ran else "FINDINGS")
        lines.append(
            f"| {section.name} | {'yes' if section.ran else 'no'} | {verdict}: {section.summary} "
            f"| {len(section.findings)} |"
        )
    for section in report.sections:
        if section.findings:
            lines += ["", f"## {section.name}", ""]
            lines += [f"- `{f.where}` {f.what}: {_headline(f.detail)}" for f in section.findings]
    return "\n".join(lines) + "\n"


def run(settings: Settings, out_dir: Path) -> int:
    sections = []
    for name, step in (("static", static_scan), ("dependencies", dependency_scan)):
        started = time.monotonic()
        sections.append(step())
        log.info("audit part done", extra={"part": name, "seconds": round(time.monotonic() - started, 1)})
    started = time.monotonic()
    sections.append(api_scan(settings))
    log.info("audit part done", extra={"part": "api", "seconds": round(time.monotonic() - started, 1)})
    commit = _run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    report = Report(commit, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), sections)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "security-audit.json").write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    (out_dir / "security-audit.md").write_text(markdown(report))
    print(markdown(report))
    # A part that could not run here (no vulnerability data reachable) is reported, not failed.
    return 1 if any(s.findings for s in sections) else 0

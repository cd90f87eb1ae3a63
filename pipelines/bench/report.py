"""Writing benchmark evidence: reports/<name>.json plus a markdown table, stamped with the commit."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import msgspec

from quarry.settings import PROJECT_ROOT

REPORTS = PROJECT_ROOT / "reports"


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def commit() -> str:
    """The measured commit, marked -dirty when tracked files other than reports/ differ from it (a
    report written a moment earlier by another target changes nothing that is measured)."""
    try:
        sha = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def environment() -> dict[str, Any]:
    return {
        "commit": commit(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def write_report(name: str, payload: msgspec.Struct | dict[str, Any], markdown: str) -> tuple[Path, Path]:
    REPORTS.mkdir(exist_ok=True)
    json_path, md_path = REPORTS / f"{name}.json", REPORTS / f"{name}.md"
    json_path.write_bytes(msgspec.json.format(msgspec.json.encode(payload), indent=2) + b"\n")
    md_path.write_text(markdown + "\n")
    return json_path, md_path


def publish_report(name: str, payload: msgspec.Struct | dict[str, Any], lines: list[str]) -> int:
    """Write the report and print its table; the exit status of a benchmark's main()."""
    table = "\n".join(lines)
    write_report(name, payload, table)
    print(table)
    return 0

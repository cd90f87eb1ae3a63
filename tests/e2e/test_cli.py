"""The pipeline commands as users run them (`python -m pipelines ...`): exit codes and messages."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER = ["product_id", "title", "brand", "category_path", "price", "attr.color"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def write_csv(path: Path, good: int, bad: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(good):
            writer.writerow([f"G{i}", f"Product {i}", "Acme", "Home & Kitchen > Furniture", "10.5", "red"])
        for i in range(bad):
            writer.writerow([f"B{i}", f"Bad {i}", "Acme", "Home & Kitchen", "free", "red"])
    return path


def test_import_indexes_good_rows_and_tolerates_one_percent(engine, alias, tmp_path) -> None:
    result = run("import", str(write_csv(tmp_path / "a.csv", 99, 1)), "--alias", alias)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["indexed"], summary["rejected"]) == (100, 99, 1)
    assert "row 101 (B0): price is not a number: 'free'" in result.stderr
    rejected = [json.loads(line) for line in Path(summary["rejections_file"]).read_text().splitlines()]
    assert rejected == [{"row": 101, "product_id": "B0", "reason": "price is not a number: 'free'"}]
    assert engine.count(alias) == 99


def test_import_over_one_percent_rejected_exits_non_zero(engine, alias, tmp_path) -> None:
    result = run("import", str(write_csv(tmp_path / "b.csv", 98, 2)), "--alias", alias)
    assert result.returncode == 1
    assert json.loads(result.stdout)["indexed"] == 98  # the good rows are still indexed


def test_strict_import_stops_at_first_bad_row_and_keeps_alias(engine, alias, tmp_path) -> None:
    assert run("import", str(write_csv(tmp_path / "ok.csv", 10, 0)), "--alias", alias).returncode == 0
    live = engine.alias_targets(alias)
    result = run("import", str(write_csv(tmp_path / "c.csv", 50, 1)), "--alias", alias, "--strict")
    assert result.returncode == 2
    assert "row 52: price is not a number" in result.stderr
    assert engine.alias_targets(alias) == live and engine.count(alias) == 10
    assert len(engine.list_indices(f"{alias}-*")) == 1  # the aborted version was deleted


def test_synonyms_check_names_file_and_line(tmp_path) -> None:
    (tmp_path / "bad.txt").write_text("# header\nsofa, settee\nlaptop =>\n")
    result = run("synonyms-check", "--offline", env={"QUARRY_SYNONYMS_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert f"{tmp_path.name}/bad.txt:3: error: nothing on the right of '=>'" in result.stderr


def test_shipped_synonyms_have_no_errors() -> None:
    result = run("synonyms-check", "--offline")
    assert result.returncode == 0, result.stderr


def test_keys_are_created_listed_rotated_and_revoked_from_the_cli(engine) -> None:
    """The token is printed once and never listed; a rotation keeps the old secret for its grace
    period; a revoked key verifies as nothing (read through a fresh store, as another process would)."""
    from quarry.api_keys import ApiKeys, OpenSearchKeyStore

    created = run("keys", "create", "--owner", "qt-cli", "--scope", "search", "--filter", "brand=Acme")
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    key_id, token = issued["key"]["key_id"], issued["token"]
    listed = run("keys", "list")
    assert (
        key_id in listed.stdout and token.split(".")[1] not in listed.stdout and "sha256" not in listed.stdout
    )
    rotated = json.loads(run("keys", "rotate", key_id, "--grace-hours", "1").stdout)
    keys = ApiKeys(OpenSearchKeyStore(engine))
    assert keys.verify(token) is not None and keys.verify(rotated["token"]) is not None
    assert run("keys", "revoke", key_id).returncode == 0
    assert ApiKeys(OpenSearchKeyStore(engine)).verify(rotated["token"]) is None
    assert key_id not in run("keys", "list").stdout  # lists show keys that work ...
    assert key_id in run("keys", "list", "--all").stdout  # ... and, asked, the record of the others
    unknown = run("keys", "revoke", "qk_00000000")
    assert unknown.returncode == 1 and "no API key" in unknown.stderr


def test_make_ups_demo_keys_are_kept_and_reissued_only_when_they_stop_working(engine, tmp_path) -> None:
    from quarry.api_keys import ApiKeys, OpenSearchKeyStore

    env = {"QUARRY_VAR_DIR": str(tmp_path)}
    first = run("keys", "demo", env=env)
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "keys"
    tokens = {path.stem: path.read_text().strip() for path in folder.glob("*.token")}
    assert set(tokens) == {"demo-search", "demo-admin", "storefront", "metrics"}
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in folder.glob("*.token"))
    assert tokens["demo-search"] in first.stdout and tokens["demo-admin"] in first.stdout
    assert tokens["metrics"] not in first.stdout  # named by its file only
    assert tokens["storefront"] not in first.stdout  # the API reads it from its file
    keys = ApiKeys(OpenSearchKeyStore(engine))
    scopes = {name: keys.verify(token).scopes for name, token in tokens.items()}  # type: ignore[union-attr]
    assert scopes["demo-search"] == ("search",) and scopes["metrics"] == ("metrics",)
    assert set(scopes["storefront"]) == {"search", "recommend", "events"}  # public: nothing more
    assert "admin" in scopes["demo-admin"]
    assert run("keys", "demo", env=env).stdout == first.stdout  # kept while they work
    keys.revoke(tokens["demo-search"].split(".")[0])
    assert run("keys", "demo", env=env).returncode == 0
    again = {path.stem: path.read_text().strip() for path in folder.glob("*.token")}
    assert again["demo-search"] != tokens["demo-search"] and again["demo-admin"] == tokens["demo-admin"]
    for token in {*tokens.values(), *again.values()}:
        keys.revoke(token.split(".")[0])

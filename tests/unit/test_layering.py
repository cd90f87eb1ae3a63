"""The search core is shared, not copied: quarry/ (what every process runs), pipelines/ and dags/
(offline) never import api/, the HTTP layer. The one exception times the API's own request guard."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"pipelines/bench/security_cost.py"}  # measures api/security's guard in process


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_offline_and_shared_code_never_imports_the_api_layer() -> None:
    offenders = []
    for package in ("quarry", "pipelines", "dags"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ALLOWED:
                continue
            api_imports = sorted(m for m in imported_modules(path) if m == "api" or m.startswith("api."))
            if api_imports:
                offenders.append(f"{relative}: {', '.join(api_imports)}")
    assert offenders == []


def test_the_check_finds_an_api_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from api.search.controllers import SearchController\n")
    assert "api.search.controllers" in imported_modules(module)

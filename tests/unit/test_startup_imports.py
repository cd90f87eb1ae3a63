"""What an API worker imports at start-up: every worker pays it, and start-up time is how long a
restart or a scale-out leaves capacity missing."""

from __future__ import annotations

import json
import subprocess
import sys

SLOW = ("scipy.stats", "mlflow", "airflow", "faiss.contrib", "matplotlib")


def test_the_api_does_not_import_what_only_offline_code_needs() -> None:
    probe = f"import sys, json, api.app; print(json.dumps([m for m in {list(SLOW)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

"""Data-quality results: one record per check and run, kept in an index so that a person (and the
dashboard) can see what was checked, what was found and since when a check fails. Defined here so the
pipelines that write results and anything that reads them agree on the index and the record."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

INDEX = "quarry-data-quality"
"""The results index (one document per check per run)."""

Severity = Literal["critical", "warning"]
"""critical: training and publishing stop while it fails; warning: a person looks."""
Status = Literal["pass", "fail", "skip", "error"]
"""skip: nothing to judge (no traffic expected, no reference yet); error: the check itself broke."""

MAPPING: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": False,
        "properties": {
            "run_id": {"type": "keyword"},
            "check": {"type": "keyword"},
            "target": {"type": "keyword"},
            "severity": {"type": "keyword"},
            "status": {"type": "keyword"},
            "observed": {"type": "double"},
            "threshold": {"type": "keyword"},
            "message": {"type": "text"},
            "at": {"type": "date"},
        },
    },
}


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    check: str
    target: str
    """The index, alias or artifact the check looked at."""
    severity: Severity
    status: Status
    observed: float | None = None
    threshold: str = ""
    message: str = ""
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    """What a drift check compares next time (its histogram), and evidence (examples of bad rows)."""
    at: str = ""
    run_id: str = ""

    @property
    def blocking(self) -> bool:
        """A failed critical check stops training and publishing downstream."""
        return self.severity == "critical" and self.status in ("fail", "error")

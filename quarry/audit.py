"""The admin audit log: who did what, when, from where (docs/security.md#audit).

Every entry is a JSON log line (logger `quarry.audit`) and a document in the `quarry-audit` index,
so it survives log rotation and an operator can read it back through `GET /admin/audit`. Entries are
of two kinds: what an admin key did (issued, rotated or revoked a key, changed an access list, read a
user-token secret, deleted a user) and what Quarry did on its own (blocked a client), with `actor`
`quarry`. A store that does not answer loses no entry silently: the log line is written first and the
failure is logged with it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.records import RecordIndex, RecordStoreError
from quarry.timestamps import iso_utc


def audit_index(prefix: str) -> str:
    return f"{prefix}-audit"


AUDIT_INDEX = audit_index("quarry")


SYSTEM_ACTOR = "quarry"
"""The actor of what Quarry does on its own (blocks)."""
log = logging.getLogger("quarry.audit")


class AuditEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    timestamp: str
    actor: str
    """The acting key's id, `quarry` for automatic blocks, `cli:<user>` for the command line."""
    action: str
    target: str
    client: str | None = None
    """The address the action came from (the blocked client's, for a block)."""
    detail: str = ""


class AuditLog:
    PROPERTIES = {  # noqa: RUF012 - a constant
        "timestamp": {"type": "date"},
        "actor": {"type": "keyword"},
        "action": {"type": "keyword"},
        "target": {"type": "keyword"},
        "client": {"type": "keyword"},
    }

    def __init__(self, engine: SearchEngine, index: str = AUDIT_INDEX) -> None:
        self._records = RecordIndex(engine, index, self.PROPERTIES)

    def record(
        self, actor: str, action: str, target: str, client: str | None = None, detail: str = ""
    ) -> None:
        entry = AuditEntry(
            iso_utc(dt.datetime.now(dt.UTC), "milliseconds"), actor, action, target, client, detail
        )
        fields = msgspec.to_builtins(entry)
        logged = {
            name: value for name, value in fields.items() if name != "timestamp"
        }  # the line has its own
        log.info("audit", extra=logged)
        try:
            self._records.put(uuid.uuid4().hex, fields)
        except RecordStoreError as exc:
            log.error("audit entry not stored; it is in this log only", extra={**logged, "error": str(exc)})

    def recent(
        self, limit: int = 100, action: str | None = None, target: str | None = None
    ) -> list[AuditEntry]:
        """Newest first."""
        filters = [
            {"term": {name: value}} for name, value in (("action", action), ("target", target)) if value
        ]
        body = {
            "size": limit,
            "sort": [{"timestamp": "desc"}],
            "query": {"bool": {"filter": filters}},
        }
        return [msgspec.convert(source, AuditEntry) for source in self._records.search(body)]

"""The registry's aliases as the artifact store keeps them, shared by the pipelines that move them
and the service that follows them (docs/model-lifecycle.md).

The store keeps, per artifact, `CURRENT` (the champion, which every loader already follows), an
`ALIASES` file for the others and an append-only `ALIAS_LOG` of every change with its reason (what
a rollback reads, and the audit trail)."""

from __future__ import annotations

import msgspec

CANDIDATE = "candidate"
SHADOW = "shadow"
CANARY = "canary"
CHAMPION = "champion"
ALIASES = (CANDIDATE, SHADOW, CANARY, CHAMPION)
ALIASES_FILE = "ALIASES"
LOG_FILE = "ALIAS_LOG"


class AliasChange(msgspec.Struct, frozen=True):
    artifact: str
    alias: str
    version: str | None
    """None: the alias was removed."""
    previous: str | None
    reason: str
    at: str

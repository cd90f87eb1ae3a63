"""ISO 8601 times as Quarry's own records store them (UTC, `Z`), written and read in one place."""

from __future__ import annotations

import datetime as dt


def iso_utc(moment: dt.datetime, timespec: str = "seconds") -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_iso(value: str) -> dt.datetime:
    """A stored time; one without a zone is UTC."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

"""ISO 8601 times as Quarry's own records store them (UTC, `Z`), written and read in one place."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def iso_utc(moment: dt.datetime, timespec: str = "seconds") -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_iso(value: str) -> dt.datetime:
    """A stored time; one without a zone is UTC."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def age_days(created_at: Any, now: dt.datetime) -> float | None:
    """Age from epoch milliseconds (the doc value the search window reads) or an ISO-8601 string."""
    if created_at is None or created_at == "":
        return None
    if isinstance(created_at, (int, float)):
        return max(0.0, (now.timestamp() * 1000 - created_at) / 86_400_000)
    try:
        created = parse_iso(str(created_at))
    except ValueError:
        return None
    return max(0.0, (now - created).total_seconds() / 86400)


def freshness(created_at: Any, now: dt.datetime, half_life_days: float) -> float:
    """exp(-ln 2 * age / half-life): 1 when new, 1/2 at one half-life; 0 without a date."""
    age = age_days(created_at, now)
    if age is None or half_life_days <= 0:
        return 0.0
    return math.exp(-math.log(2) * age / half_life_days)

"""The checks, each a question OpenSearch answers with a count or an aggregation: nothing is pulled
into memory but numbers. Each takes its target explicitly, so the same check runs on the live
stores, on a copy, and on a test's own index.

Why not Great Expectations, pandera or soda-core (docs/pipelines.md#data-quality): their checks run
on rows in a dataframe or a SQL engine, so every run would copy the events out of OpenSearch first;
here every check is one request and the results are Quarry's own records, metrics and alerts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.data_quality import CheckResult

FRESHNESS_MAX_AGE = dt.timedelta(minutes=5)
TRAFFIC_EXPECTED_PER_HOUR = 20
"""The same hour on previous days had at least this many events (median): traffic is expected now."""
MAX_MISSING_RATIO = 0.01
VOLUME_DAYS = 7
VOLUME_MIN_DAYS = 3
VOLUME_TOLERANCE = 4.0
"""How many robust deviations (MAD scaled to a standard deviation, at least Poisson's sqrt) away an
hour's count may be from the median of the same hour on previous days."""

EVENT_FIELDS = ("action_name", "timestamp", "event_id")
OBJECT_ACTIONS = ("click", "add_to_cart", "purchase")
QUERY_FIELDS = ("query_id", "user_query", "timestamp")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _window(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return {"range": {"timestamp": {"gte": _iso(start), "lt": _iso(end)}}}


def schema(engine: SearchEngine, index: str, mapping_file: Path) -> CheckResult:
    """Every field the repository's mapping declares exists in the live index with the same type
    (a store rebuilt by hand, or a template that did not apply, loses them)."""
    declared = json.loads(mapping_file.read_text())["mappings"]["properties"]
    try:
        live_mappings = engine.request("GET", f"/{index}/_mapping")
    except SearchEngineError as exc:  # a missing index is a finding, not a crash
        return CheckResult(check="schema", target=index, severity="critical", status="fail", message=str(exc))
    problems = []
    for concrete, body in sorted(live_mappings.items()):
        live = body.get("mappings", {}).get("properties", {})
        for field, spec in declared.items():
            want, got = (
                spec.get("type", "object"),
                live.get(field, {}).get("type", "object" if field in live else None),
            )
            if got != want:
                problems.append(f"{concrete}.{field}: {got or 'missing'} (want {want})")
    return CheckResult(
        check="schema",
        target=index,
        severity="critical",
        status="fail" if problems else "pass",
        observed=float(len(problems)),
        threshold="0 fields missing or retyped",
        message="; ".join(problems[:10]) or f"{len(declared)} fields as declared",
    )


def hourly_counts(engine: SearchEngine, index: str, now: dt.datetime, days: int) -> list[int]:
    """Events in the hour before `now` on each of the previous `days` days (oldest first)."""
    counts = []
    for back in range(days, 0, -1):
        end = now - dt.timedelta(days=back)
        counts.append(engine.count(index, _window(end - dt.timedelta(hours=1), end)))
    return counts


def freshness(
    engine: SearchEngine, index: str, now: dt.datetime, history: list[int] | None = None
) -> CheckResult:
    """The newest event is at most 5 minutes old, while traffic is expected (the same hour had
    traffic on previous days); a quiet hour of a quiet shop is no finding."""
    history = hourly_counts(engine, index, now, VOLUME_DAYS) if history is None else history
    expected = statistics.median(history) >= TRAFFIC_EXPECTED_PER_HOUR if history else False
    newest = engine.search(index, {"size": 0, "aggs": {"newest": {"max": {"field": "timestamp"}}}})
    value = newest.aggregations.get("newest", {}).get("value")
    age_s = None if value is None else max(0.0, now.timestamp() - value / 1000)
    base: dict[str, Any] = {
        "check": "freshness",
        "target": index,
        "severity": "critical",
        "threshold": "<= 300 s",
    }
    if not expected:
        return CheckResult(
            **base, status="skip", observed=age_s, message="no traffic expected in this hour (previous days)"
        )
    stale = age_s is None or age_s > FRESHNESS_MAX_AGE.total_seconds()
    message = "no events at all" if age_s is None else f"newest event {age_s:.0f} s old"
    return CheckResult(**base, status="fail" if stale else "pass", observed=age_s, message=message)


def completeness(
    engine: SearchEngine,
    index: str,
    now: dt.datetime,
    required: tuple[str, ...],
    window: dt.timedelta,
    events: bool = False,
) -> CheckResult:
    """At most 1 % of the window's records lack a required field (each field judged alone; the worst
    is reported). `events`: clicks, carts and purchases also need the product they were about."""
    # By `timestamp`, or by `received_at` (set by the API on arrival): a record that lost its
    # timestamp would otherwise never be in any window, and never counted as incomplete.
    arrived = {"range": {"received_at": {"gte": _iso(now - window), "lt": _iso(now)}}}
    in_window = {"bool": {"should": [_window(now - window, now), arrived], "minimum_should_match": 1}}
    total = engine.count(index, in_window)
    base: dict[str, Any] = {
        "check": "completeness",
        "target": index,
        "severity": "critical",
        "threshold": "<= 1 % missing",
    }
    if total == 0:
        return CheckResult(**base, status="skip", observed=0.0, message="no records in the window")
    missing: dict[str, int] = {}
    for field in required:
        absent = {"bool": {"filter": [in_window], "must_not": [{"exists": {"field": field}}]}}
        missing[field] = engine.count(index, absent)
    if events:
        about_objects = {
            "bool": {
                "filter": [in_window, {"terms": {"action_name": list(OBJECT_ACTIONS)}}],
                "must_not": [{"exists": {"field": "object_id"}}],
            }
        }
        missing["object_id"] = engine.count(index, about_objects)
    worst, count = max(missing.items(), key=lambda item: item[1])
    ratio = count / total
    return CheckResult(
        **base,
        status="fail" if ratio > MAX_MISSING_RATIO else "pass",
        observed=round(ratio, 6),
        message=f"{worst} missing in {count} of {total} records",
        details={"missing": missing, "records": total},
    )


def volume(
    engine: SearchEngine, index: str, now: dt.datetime, history: list[int] | None = None
) -> CheckResult:
    """The last hour's count is within the robust range of the same hour on the previous 7 days:
    median +- 4 * max(1.4826 * MAD, sqrt(median)). Needs 3 days with traffic to judge."""
    history = hourly_counts(engine, index, now, VOLUME_DAYS) if history is None else history
    current = engine.count(index, _window(now - dt.timedelta(hours=1), now))
    base: dict[str, Any] = {"check": "volume", "target": index, "severity": "warning"}
    with_traffic = [c for c in history if c > 0]
    if len(with_traffic) < VOLUME_MIN_DAYS:
        return CheckResult(
            **base, status="skip", observed=float(current), message="fewer than 3 previous days with traffic"
        )
    median = statistics.median(history)
    spread = max(1.4826 * statistics.median(abs(c - median) for c in history), math.sqrt(median), 1.0)
    low, high = median - VOLUME_TOLERANCE * spread, median + VOLUME_TOLERANCE * spread
    outside = not low <= current <= high
    return CheckResult(
        **base,
        status="fail" if outside else "pass",
        observed=float(current),
        threshold=f"{max(0.0, low):.0f} .. {high:.0f}",
        message=f"{current} in the last hour; same hour on previous days: {history}",
        details={"history": history},
    )


def catalog(engine: SearchEngine, alias: str) -> CheckResult:
    """Duplicate ids, prices <= 0, empty titles and broken category paths: each product either fine
    or counted once per problem."""
    problems: dict[str, Mapping[str, Any]] = {
        "price_not_positive": {"range": {"price": {"lte": 0}}},
        "empty_title": {
            "bool": {
                "should": [
                    {"bool": {"must_not": [{"exists": {"field": "title"}}]}},
                    {"regexp": {"title.keyword": "[ \t]*"}},
                ]
            }
        },
        "broken_category_path": {
            "bool": {
                "should": [
                    {"bool": {"must_not": [{"exists": {"field": "category_lvl1"}}]}},
                    {"bool": {"must_not": [{"exists": {"field": "category_path"}}]}},
                    {
                        "bool": {
                            "filter": [{"exists": {"field": "category_lvl3"}}],
                            "must_not": [{"exists": {"field": "category_lvl2"}}],
                        }
                    },
                ]
            }
        },
    }
    found = {name: engine.count(alias, query) for name, query in problems.items()}
    duplicated = engine.search(
        alias,
        {"size": 0, "aggs": {"ids": {"terms": {"field": "product_id", "min_doc_count": 2, "size": 10}}}},
    )
    buckets = duplicated.aggregations.get("ids", {}).get("buckets", [])
    found["duplicate_id"] = len(buckets)
    total = engine.count(alias)
    bad = sum(found.values())
    examples = [bucket["key"] for bucket in buckets]
    return CheckResult(
        check="catalog",
        target=alias,
        severity="critical",
        status="fail" if bad else "pass",
        observed=float(bad),
        threshold="0 bad products",
        message=", ".join(f"{name}: {count}" for name, count in found.items() if count)
        or f"{total} products fine",
        details={"problems": found, "products": total, "duplicate_ids": examples},
    )

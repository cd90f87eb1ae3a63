"""Implicit judgments by COEC (clicks over expected clicks), computed the way the OpenSearch Search
Relevance Workbench computes them (its `CoecClickModel`, `clickModel: "coec"`), so that judgments
made here from `ubi_events` match what SRW would make from the same events, and either can be used
to judge an experiment.

COEC divides a (query, document) pair's clicks by the clicks an average document would have got at
the same rank: CTR(rank) × the pair's impressions. A rating above 1 means the document is clicked
more than its rank explains, below 1 less. The rank of a pair is the best (lowest) rank it was seen
at, as in SRW, which lowers ratings for documents that also appeared further down.

Ordinals are 0-based: the first result is ordinal 0. SRW reads them so: it fetches events with
`ordinal <= maxRank` but computes CTR only for ranks 0 … maxRank-1. Events written 1-based would
leave rank 0 empty and shift every expected CTR by one rank, and a pair whose best rank is maxRank
would get no expected CTR and a rating of 0. A writer must use the same convention, or every rating
is measured against the wrong rank.

Kept from SRW, because they change the numbers:

* only `click` and `impression` count, compared without regard to case;
* events with no integer ordinal, or an ordinal above `max_rank`, are left out altogether (SRW's
  range query); an event at exactly `max_rank` counts for its pair but has no CTR(rank);
* CTR(rank) counts every click and impression in range, including those the pairs skip for lack
  of a `user_query` or an object: SRW takes CTR from an aggregation over all events;
* pairs are keyed by the event's own `user_query` (no join to `ubi_queries`) and the object id as a
  string; a pair with no expected clicks (no impressions, or a rank with CTR 0 or none) rates 0;
* ratings are formatted "%.3f" the way Java's `String.format` does it: half-up on the shortest
  decimal form of the double. Python's "%.3f" rounds the exact binary value half-even, so 0.0625
  would print "0.062" here and "0.063" in SRW.

Not copied from SRW: it counts CTR from a terms aggregation whose size limits can drop an action
name or a rank, and whose case-variant buckets ("click", "Click") overwrite rather than add; here
every event is counted. SRW also emits "0.000" for a pair seen only through other actions (its
pair pass does not filter them); here other actions make no pair.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.ubi import UBI_EVENTS

CLICK = "click"
IMPRESSION = "impression"
_THOUSANDTH = Decimal("0.001")


class Judgment(msgspec.Struct, frozen=True):
    """One query's ratings, keyed by object id: `ratings` as SRW stores them, `scores` unrounded."""

    query: str
    ratings: dict[str, str]
    scores: dict[str, float]


class CoecSummary(msgspec.Struct, frozen=True):
    """What happened to every event read, so an empty or thin judgment list can be explained: the
    usual causes (no `user_query` on events from ubi.js, no ordinal, other action names) each have
    a count."""

    events_read: int
    counted: int  # clicks and impressions that reached a (query, document) pair
    other_action: int
    no_ordinal: int
    over_max_rank: int
    no_user_query: int  # in range and a click or impression: still counted in CTR(rank)
    no_object: int  # likewise
    pairs: int
    queries: int


class CoecResult(msgspec.Struct, frozen=True):
    judgments: list[Judgment]
    rank_ctr: dict[int, float]  # expected CTR for ranks 0 … max_rank-1
    summary: CoecSummary


class _Pair:
    __slots__ = ("clicks", "impressions", "rank")

    def __init__(self) -> None:
        self.clicks = 0
        self.impressions = 0
        self.rank: int | None = None


def coec_judgments(events: Iterable[Mapping[str, Any]], max_rank: int) -> CoecResult:
    """One pass: rank counts and pair counts are gathered together, so `events` can be a scroll."""
    if max_rank < 1:
        raise ValueError(f"max_rank must be at least 1, not {max_rank}")
    rank_clicks: Counter[int] = Counter()
    rank_impressions: Counter[int] = Counter()
    pairs: defaultdict[str, defaultdict[str, _Pair]] = defaultdict(lambda: defaultdict(_Pair))
    skipped: Counter[str] = Counter()
    read = counted = 0
    for event in events:
        read += 1
        ordinal = _ordinal(event)
        if ordinal is None:
            skipped["no_ordinal"] += 1
            continue
        if ordinal > max_rank:
            skipped["over_max_rank"] += 1
            continue
        action = event.get("action_name")
        is_click = isinstance(action, str) and action.lower() == CLICK
        if not is_click and not (isinstance(action, str) and action.lower() == IMPRESSION):
            skipped["other_action"] += 1
            continue
        if 0 <= ordinal < max_rank:
            (rank_clicks if is_click else rank_impressions)[ordinal] += 1
        query, object_id = event.get("user_query"), _object_id(event)
        if not isinstance(query, str):
            skipped["no_user_query"] += 1
            continue
        if object_id is None:
            skipped["no_object"] += 1
            continue
        counted += 1
        pair = pairs[query][object_id]
        if is_click:
            pair.clicks += 1
        else:
            pair.impressions += 1
        pair.rank = ordinal if pair.rank is None else min(pair.rank, ordinal)

    rank_ctr = {
        rank: rank_clicks[rank] / rank_impressions[rank] if rank_impressions[rank] else 0.0
        for rank in range(max_rank)
    }
    judgments = []
    for query in sorted(pairs):
        scores = {object_id: _rating(pair, rank_ctr) for object_id, pair in sorted(pairs[query].items())}
        ratings = {object_id: java_format_3f(score) for object_id, score in scores.items()}
        judgments.append(Judgment(query=query, ratings=ratings, scores=scores))
    summary = CoecSummary(
        events_read=read,
        counted=counted,
        other_action=skipped["other_action"],
        no_ordinal=skipped["no_ordinal"],
        over_max_rank=skipped["over_max_rank"],
        no_user_query=skipped["no_user_query"],
        no_object=skipped["no_object"],
        pairs=sum(len(documents) for documents in pairs.values()),
        queries=len(pairs),
    )
    return CoecResult(judgments=judgments, rank_ctr=rank_ctr, summary=summary)


def _rating(pair: _Pair, rank_ctr: Mapping[int, float]) -> float:
    assert pair.rank is not None  # noqa: S101 - every pair is created by an event that has one
    expected = rank_ctr.get(pair.rank, 0.0) * pair.impressions
    return pair.clicks / expected if expected > 0 else 0.0


def _ordinal(event: Mapping[str, Any]) -> int | None:
    position = _field(_field(event, "event_attributes"), "position")
    ordinal = position.get("ordinal")
    # bool is an int to Python, not to OpenSearch's integer field.
    return ordinal if isinstance(ordinal, int) and not isinstance(ordinal, bool) else None


def _object_id(event: Mapping[str, Any]) -> str | None:
    """SRW reads the id as a string, so 902 and "902" are one document; the spec allows both."""
    object_id = _field(_field(event, "event_attributes"), "object").get("object_id")
    if isinstance(object_id, bool) or not isinstance(object_id, (str, int)):
        return None
    return str(object_id)


def _field(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, Mapping) else {}


def java_format_3f(value: float) -> str:
    """`String.format(Locale.ROOT, "%.3f", value)` in Java: SRW's stored form of a rating."""
    return str(Decimal(repr(value)).quantize(_THOUSANDTH, rounding=ROUND_HALF_UP))


def coec_events_query(max_rank: int, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """SRW's filter: ordinal at most `max_rank`, and a `yyyy-MM-dd` timestamp range whose end day is
    included (OpenSearch rounds an `lte` date up to the day's last millisecond). The action names
    are filtered here too, which SRW leaves to its code: two `term` queries with `case_insensitive`
    rather than one `terms`, which matches case-sensitively and would drop "Click" that SRW counts."""
    filters: list[dict[str, Any]] = [
        {"range": {"event_attributes.position.ordinal": {"lte": max_rank}}},
        {
            "bool": {
                "should": [
                    {"term": {"action_name": {"value": action, "case_insensitive": True}}}
                    for action in (CLICK, IMPRESSION)
                ],
                "minimum_should_match": 1,
            }
        },
    ]
    if start is not None or end is not None:
        bounds: dict[str, Any] = {"format": "yyyy-MM-dd"}
        if start is not None:
            bounds["gte"] = start.isoformat()
        if end is not None:
            bounds["lte"] = end.isoformat()
        filters.append({"range": {"timestamp": bounds}})
    return {"bool": {"filter": filters}}


def read_coec_events(
    engine: SearchEngine, max_rank: int, start: date | None = None, end: date | None = None
) -> Iterator[dict[str, Any]]:
    """Stored events for `coec_judgments`. `SearchEngine.scan` takes a query only, not a `_source`
    list, so whole documents are read where SRW fetches five fields."""
    for hit in engine.scan(UBI_EVENTS, coec_events_query(max_rank, start, end)):
        yield hit.source

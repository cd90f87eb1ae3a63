"""COEC implicit judgments (pipelines/coec.py) against numbers worked out by hand, the way the Search
Relevance Workbench's CoecClickModel computes them. Every expected value is a literal."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest

from pipelines.coec import (
    CoecSummary,
    Judgment,
    coec_events_query,
    coec_judgments,
    java_format_3f,
    read_coec_events,
)
from quarry.adapters.search_engine import Hit


def event(action: str, query: str | None, doc: str | int | None, ordinal: Any) -> dict[str, Any]:
    """A stored UBI event; None leaves the field out, as ubi.js does for user_query."""
    attributes: dict[str, Any] = {}
    if doc is not None:
        attributes["object"] = {"object_id": doc, "object_id_field": "product_id"}
    if ordinal is not None:
        attributes["position"] = {"ordinal": ordinal}
    stored: dict[str, Any] = {
        "action_name": action,
        "timestamp": "2026-11-28T14:03:11.120Z",
        "event_attributes": attributes,
    }
    if query is not None:
        stored["user_query"] = query
    return stored


def times(
    n: int, action: str, query: str | None, doc: str | int | None, ordinal: Any
) -> list[dict[str, Any]]:
    return [event(action, query, doc, ordinal) for _ in range(n)]


def test_two_queries_three_documents():
    events = [
        *times(4, "impression", "laptop", "D1", 0),
        *times(2, "click", "laptop", "D1", 0),
        *times(4, "impression", "laptop", "D2", 1),
        *times(1, "click", "laptop", "D2", 1),
        *times(2, "impression", "mouse", "D1", 1),
        *times(1, "click", "mouse", "D1", 1),
        *times(2, "impression", "mouse", "D3", 0),
        *times(1, "impression", "mouse", "D3", 1),
    ]
    # CTR(0): impressions laptop/D1 4 + mouse/D3 2 = 6, clicks 2          -> 2/6 = 1/3
    # CTR(1): impressions laptop/D2 4 + mouse/D1 2 + mouse/D3 1 = 7,
    #         clicks laptop/D2 1 + mouse/D1 1 = 2                          -> 2/7
    # CTR(2): no impressions                                               -> 0
    # laptop/D1: 2 clicks, 4 impressions, rank 0: 2 / (1/3 * 4) = 2 / (4/3) = 1.5
    # laptop/D2: 1 click,  4 impressions, rank 1: 1 / (2/7 * 4) = 1 / (8/7) = 0.875
    # mouse/D1:  1 click,  2 impressions, rank 1: 1 / (2/7 * 2) = 1 / (4/7) = 1.75
    # mouse/D3:  0 clicks, 3 impressions, best rank 0 (seen at 0 and 1): 0 / (1/3 * 3) = 0
    result = coec_judgments(events, max_rank=3)

    assert result.rank_ctr == pytest.approx({0: 0.333333, 1: 0.285714, 2: 0.0}, abs=1e-6)
    assert [(j.query, j.ratings) for j in result.judgments] == [
        ("laptop", {"D1": "1.500", "D2": "0.875"}),
        ("mouse", {"D1": "1.750", "D3": "0.000"}),
    ]
    assert result.judgments[0].scores == pytest.approx({"D1": 1.5, "D2": 0.875})
    assert result.judgments[1].scores == pytest.approx({"D1": 1.75, "D3": 0.0})
    assert result.summary == CoecSummary(
        events_read=17,  # 4 + 2 + 4 + 1 + 2 + 1 + 2 + 1
        counted=17,
        other_action=0,
        no_ordinal=0,
        over_max_rank=0,
        no_user_query=0,
        no_object=0,
        pairs=4,
        queries=2,
    )


def test_a_repeating_rating_is_rounded_to_three_places():
    # CTR(0) = 1 click / 3 impressions = 1/3 (A: 3 impressions, 1 click).
    # CTR(1) = 2 clicks / 2 impressions = 1   (B: 2 impressions, 2 clicks).
    # A: 1 / (1/3 * 3) = 1.0;  B: 2 / (1 * 2) = 1.0.
    # C at rank 1 with 3 impressions and 2 clicks changes CTR(1) to (2+2)/(2+3) = 4/5:
    # B: 2 / (4/5 * 2) = 1.25;  C: 2 / (4/5 * 3) = 2 / 2.4 = 0.8333... -> "0.833".
    events = [
        *times(3, "impression", "q", "A", 0),
        *times(1, "click", "q", "A", 0),
        *times(2, "impression", "q", "B", 1),
        *times(2, "click", "q", "B", 1),
        *times(3, "impression", "q", "C", 1),
        *times(2, "click", "q", "C", 1),
    ]
    [judgment] = coec_judgments(events, max_rank=2).judgments
    assert judgment == Judgment(
        query="q",
        ratings={"A": "1.000", "B": "1.250", "C": "0.833"},
        scores=pytest.approx({"A": 1.0, "B": 1.25, "C": 0.833333}, abs=1e-6),
    )


def test_action_names_are_compared_without_case_and_others_ignored():
    events = [
        event("Impression", "q", "A", 0),
        event("IMPRESSION", "q", "A", 0),
        event("Click", "q", "A", 0),
        event("impression", "q", "B", 0),
        event("impression", "q", "B", 0),
        event("item_click", "q", "B", 0),
        event("add_to_cart", "q", "E", 0),
    ]
    # CTR(0) = 1 click ("Click") / 4 impressions = 1/4; item_click and add_to_cart do not count.
    # A: 1 / (1/4 * 2) = 2.0;  B: 0 clicks -> 0.0;  E: no click or impression, so no pair.
    # (Counting item_click as a click would give CTR(0) = 2/4 and A = B = 1.0.)
    result = coec_judgments(events, max_rank=1)
    assert [(j.query, j.ratings) for j in result.judgments] == [("q", {"A": "2.000", "B": "0.000"})]
    assert result.summary.other_action == 2
    assert result.summary.counted == 5


def test_max_rank_edge():
    events = [
        *times(2, "impression", "q", "A", 0),
        *times(1, "click", "q", "A", 0),
        *times(1, "impression", "q", "B", 2),
        *times(1, "click", "q", "B", 2),
        *times(1, "impression", "q", "C", 3),
        *times(1, "click", "q", "C", 3),
        *times(2, "impression", "q", "D", 2),
        *times(1, "impression", "q", "D", 1),
        *times(1, "click", "q", "D", 1),
    ]
    # max_rank 2: CTR is computed for ranks 0 and 1 only.
    # CTR(0) = 1/2 (A). CTR(1) = 1 click / 1 impression = 1 (D's events at ordinal 1).
    # Ordinal 2 (= max_rank) is read, but not counted in any CTR: B's best rank is 2, no expected
    # CTR, rating 0. Ordinal 3 (> max_rank) is left out: C has no pair at all.
    # A: 1 / (1/2 * 2) = 1.0.
    # D: seen at 2 (twice) and 1: best rank 1; 1 click / (1 * 3 impressions) = 0.333...
    result = coec_judgments(events, max_rank=2)
    assert result.rank_ctr == {0: 0.5, 1: 1.0}
    assert [(j.query, j.ratings) for j in result.judgments] == [
        ("q", {"A": "1.000", "B": "0.000", "D": "0.333"})
    ]
    assert result.summary.over_max_rank == 2
    assert result.summary.pairs == 3


def test_events_the_pairs_skip_still_count_in_rank_ctr():
    events = [
        *times(2, "impression", "q", "A", 0),
        *times(1, "click", "q", "A", 0),
        event("click", None, "A", 0),  # from ubi.js: no user_query
        event("impression", "q", None, 0),  # no object
    ]
    # CTR(0) counts all four: 2 clicks / 3 impressions = 2/3 (SRW takes it from an aggregation over
    # every event in range). A: 1 / (2/3 * 2) = 1 / (4/3) = 0.75.
    # (Counting only the pair's own events would give CTR(0) = 1/2 and A = 1.0.)
    result = coec_judgments(events, max_rank=1)
    assert result.rank_ctr == pytest.approx({0: 0.666667}, abs=1e-6)
    assert [(j.query, j.ratings) for j in result.judgments] == [("q", {"A": "0.750"})]
    assert (result.summary.no_user_query, result.summary.no_object) == (1, 1)


def test_skip_rules():
    no_position = event("click", "q", "A", None)
    xy_only = event("click", "q", "A", None)
    xy_only["event_attributes"]["position"] = {"xy": {"x": 10, "y": 20}}
    object_without_id = event("click", "q", "A", 0)
    del object_without_id["event_attributes"]["object"]["object_id"]
    no_attributes = {"action_name": "click", "user_query": "q", "timestamp": "2026-11-28T14:03:11Z"}
    events = [
        no_position,
        xy_only,
        event("click", "q", "A", "3"),  # a string ordinal
        event("click", "q", "A", True),  # a bool is not an ordinal
        no_attributes,
        event("click", None, "A", 0),
        {**event("click", "q", "A", 0), "user_query": None},
        {**event("click", "q", "A", 0), "user_query": {"text": "q"}},
        object_without_id,
        event("impression", "q", None, 0),
        event("view", "q", "A", 0),
        event("impression", "q", 902, 0),  # an integer id is the string "902"
        event("impression", "q", "902", 0),
    ]
    result = coec_judgments(events, max_rank=5)
    assert result.summary == CoecSummary(
        events_read=13,
        counted=2,
        other_action=1,
        no_ordinal=5,
        over_max_rank=0,
        no_user_query=3,
        no_object=2,
        pairs=1,
        queries=1,
    )
    # CTR(0) counts the in-range clicks and impressions the pairs skip: 4 clicks (three without a
    # usable user_query, one whose object has no id) / 3 impressions (one without an object, two
    # for 902) = 4/3. q/902: 0 clicks, 2 impressions -> 0.
    assert result.rank_ctr[0] == pytest.approx(1.333333, abs=1e-6)
    assert [(j.query, j.ratings) for j in result.judgments] == [("q", {"902": "0.000"})]


def test_clicks_without_impressions_rate_zero():
    # CTR(0) = 2 clicks (A, B) / 1 impression (B) = 2: above 1, which SRW's docs allow for.
    # A: a click but no impression: expected clicks 2 * 0 = 0 -> rating 0. B: 1 / (2 * 1) = 0.5.
    events = [event("click", "q", "A", 0), event("impression", "q", "B", 0), event("click", "q", "B", 0)]
    [judgment] = coec_judgments(events, max_rank=1).judgments
    assert judgment.ratings == {"A": "0.000", "B": "0.500"}


def test_no_events():
    result = coec_judgments([], max_rank=2)
    assert result.judgments == []
    assert result.rank_ctr == {0: 0.0, 1: 0.0}
    assert result.summary.events_read == 0


def test_max_rank_must_be_positive():
    with pytest.raises(ValueError, match="max_rank"):
        coec_judgments([], max_rank=0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5, "1.500"),
        (0.0, "0.000"),
        (2 / 3, "0.667"),
        (0.0625, "0.063"),  # an exact tie: Java rounds half up; Python's "%.3f" gives "0.062"
        (1.0005, "1.001"),  # just below the tie in binary; Java rounds its shortest form "1.0005" up
        (0.0004, "0.000"),
        (12.34549, "12.345"),
    ],
)
def test_ratings_are_formatted_like_java(value, text):
    assert java_format_3f(value) == text


class ScanOnly:
    """A SearchEngine reduced to `scan`, recording what it was asked."""

    def __init__(self, sources: list[dict[str, Any]]) -> None:
        self.sources = sources
        self.calls: list[tuple[str, Mapping[str, Any] | None]] = []

    def scan(self, index: str, query: Mapping[str, Any] | None = None) -> Iterator[Hit]:
        self.calls.append((index, query))
        for number, source in enumerate(self.sources):
            yield Hit(id=str(number), score=None, source=source)


ACTIONS_FILTER = {
    "bool": {
        "should": [
            {"term": {"action_name": {"value": "click", "case_insensitive": True}}},
            {"term": {"action_name": {"value": "impression", "case_insensitive": True}}},
        ],
        "minimum_should_match": 1,
    }
}


def test_read_coec_events_scans_the_events_alias_with_srw_filter():
    stored = [event("click", "q", "A", 0), event("impression", "q", "A", 0)]
    engine = ScanOnly(stored)
    assert list(read_coec_events(engine, 20, date(2026, 11, 1), date(2026, 11, 30))) == stored  # type: ignore[arg-type]
    assert engine.calls == [
        (
            "ubi_events",
            {
                "bool": {
                    "filter": [
                        {"range": {"event_attributes.position.ordinal": {"lte": 20}}},
                        ACTIONS_FILTER,
                        {
                            "range": {
                                "timestamp": {
                                    "format": "yyyy-MM-dd",
                                    "gte": "2026-11-01",
                                    "lte": "2026-11-30",
                                }
                            }
                        },
                    ]
                }
            },
        )
    ]


def test_the_timestamp_range_is_optional_on_either_side():
    assert coec_events_query(10) == {
        "bool": {"filter": [{"range": {"event_attributes.position.ordinal": {"lte": 10}}}, ACTIONS_FILTER]}
    }
    only_start = coec_events_query(10, start=date(2026, 1, 2))
    assert only_start["bool"]["filter"][2] == {
        "range": {"timestamp": {"format": "yyyy-MM-dd", "gte": "2026-01-02"}}
    }
    only_end = coec_events_query(10, end=date(2026, 1, 3))
    assert only_end["bool"]["filter"][2] == {
        "range": {"timestamp": {"format": "yyyy-MM-dd", "lte": "2026-01-03"}}
    }

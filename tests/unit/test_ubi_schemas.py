"""The UBI 1.3.0 conformance schemas (tests/contract/ubi): they accept the shapes the spec and its
reference client produce, and refuse clear violations with a message that names the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.contract.ubi.schemas import event_validator, is_rfc3339_date_time, problems, query_validator

# One element of what ubi.js posts for a click (a one-element JSON array), with the position Quarry's
# result list adds.
CLICK: dict[str, Any] = {
    "application": "quarry-web",
    "action_name": "click",
    "client_id": "5e3b2a1c-8b7d-4f2e-a3d4-c9b2e1f3a4b5",
    "user_id": "",
    "session_id": "84266fdbd31d4c2c6d0665f7e8380fa3",
    "query_id": "00112233-4455-6677-8899-aabbccddeeff",
    "timestamp": "2026-11-28T14:03:11.120Z",
    "message_type": "INFO",
    "event_attributes": {
        "object": {"object_id": "P000902", "object_id_field": "product_id"},
        "position": {"ordinal": 3},
    },
}

QUERY: dict[str, Any] = {
    "user_query": "Toner",
    "query_id": "12300d16cb-b6f1-4012-93ebcc49cac90426",
    "client_id": "c4af7ca2-d6d2-4326-a41f-e616ebdd3d7b",
    "application": "quarry-web",
    "query_attributes": {"experiment_id": "12345"},
    "object_id_field": "product_id",
    "timestamp": "2025-02-26T10:15:00.000+00:00",
    "query_response_id": "5e3b2a1c-8b7d-4f2e-a3d4-c9b2e1f3a4b5",
    "query_response_hit_ids": ["B07XLFYN6S", "B013UFPODY", "B07SHS91DQ"],
}


def with_changes(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    changed.update(changes)
    return changed


def without(record: dict[str, Any], field: str) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    del changed[field]
    return changed


# --- accepted ---------------------------------------------------------------------------------------


def test_a_ubi_js_click_conforms_in_both_variants():
    assert problems(event_validator(), CLICK) == []
    assert problems(event_validator(strict=True), CLICK) == []


@pytest.mark.parametrize("name", ["click", "impression", "add_to_cart", "purchase", "item_click"])
def test_standard_and_custom_action_names_conform(name):
    # Under the spec's strict oneOf, the standard names (the first four) would fail: they match both
    # the enum branch and the free-string branch.
    assert problems(event_validator(), with_changes(CLICK, action_name=name)) == []


def test_object_id_type_in_and_out_of_the_enum_conforms():
    for kind in ("product", "bundle"):
        event = copy.deepcopy(CLICK)
        event["event_attributes"]["object"]["object_id_type"] = kind
        assert problems(event_validator(), event) == []


def test_a_position_with_both_ordinal_and_xy_conforms():
    event = copy.deepcopy(CLICK)
    event["event_attributes"]["position"] = {"ordinal": 0, "xy": {"x": 480, "y": 578.5}}
    assert problems(event_validator(), event) == []


def test_an_integer_object_id_and_extra_root_fields_conform():
    event = with_changes(CLICK, page_id="/search", event_id="e-1", received_at="2026-11-28T14:03:12Z")
    event["event_attributes"]["object"]["object_id"] = 902
    assert problems(event_validator(), event) == []


def test_the_minimal_event_is_action_name_and_timestamp():
    assert problems(event_validator(), {"action_name": "view", "timestamp": "2026-11-28T14:03:11Z"}) == []


def test_ubi_js_event_attributes_without_position_pass_by_default_and_fail_strict():
    # ubi.js's UbiEventAttributes builds only `object`; the final 1.3.0 file requires `position`.
    event = with_changes(
        CLICK, event_attributes={"object": {"object_id": "P000902", "object_id_field": "product_id"}}
    )
    assert problems(event_validator(), event) == []
    assert problems(event_validator(strict=True), event) == [
        "$.event_attributes: 'position' is a required property"
    ]


def test_a_full_query_record_conforms():
    assert problems(query_validator(), QUERY) == []
    assert problems(query_validator(), {"user_query": ""}) == []
    assert problems(query_validator(), with_changes(QUERY, query_response_hit_ids=[])) == []


# --- refused ----------------------------------------------------------------------------------------


def test_an_event_without_action_name_is_refused():
    assert problems(event_validator(), without(CLICK, "action_name")) == [
        "$: 'action_name' is a required property"
    ]


def test_an_event_without_timestamp_is_refused():
    assert problems(event_validator(), without(CLICK, "timestamp")) == [
        "$: 'timestamp' is a required property"
    ]


def test_a_timestamp_without_a_zone_is_refused():
    # The spec lists this very string as an example; OpenSearch's strict_date_time drops it.
    event = with_changes(CLICK, timestamp="2018-11-13T20:20:39")
    assert problems(event_validator(), event) == ["$.timestamp: '2018-11-13T20:20:39' is not a 'date-time'"]


def test_an_epoch_millisecond_timestamp_is_refused():
    event = with_changes(CLICK, timestamp=1714911643189)
    assert problems(event_validator(), event) == ["$.timestamp: 1714911643189 is not of type 'string'"]


def test_an_action_name_over_100_characters_is_refused():
    assert problems(event_validator(), with_changes(CLICK, action_name="a" * 100)) == []
    found = problems(event_validator(), with_changes(CLICK, action_name="a" * 101))
    assert len(found) == 1
    assert found[0].startswith("$.action_name: ")
    assert "is not valid under any of the given schemas" in found[0]
    assert "is too long" in found[0]


def test_an_object_without_object_id_is_refused():
    event = copy.deepcopy(CLICK)
    del event["event_attributes"]["object"]["object_id"]
    assert problems(event_validator(), event) == [
        "$.event_attributes.object: 'object_id' is a required property"
    ]


def test_an_empty_position_is_refused():
    event = copy.deepcopy(CLICK)
    event["event_attributes"]["position"] = {}
    assert problems(event_validator(), event) == [
        "$.event_attributes.position: {} is not valid under any of the given schemas "
        "['ordinal' is a required property | 'xy' is a required property]"
    ]


def test_every_error_of_a_record_is_reported():
    event = with_changes(without(CLICK, "action_name"), timestamp="2026-11-28 14:03:11Z", user_id=7)
    assert problems(event_validator(), event) == [
        "$: 'action_name' is a required property",
        "$.timestamp: '2026-11-28 14:03:11Z' is not a 'date-time'",
        "$.user_id: 7 is not of type 'string'",
    ]


def test_non_string_hit_ids_are_refused():
    record = with_changes(QUERY, query_response_hit_ids=["B07XLFYN6S", 17])
    assert problems(query_validator(), record) == ["$.query_response_hit_ids[1]: 17 is not of type 'string'"]


def test_a_query_without_user_query_is_refused():
    assert problems(query_validator(), without(QUERY, "user_query")) == [
        "$: 'user_query' is a required property"
    ]


def test_a_query_id_over_100_characters_is_refused():
    found = problems(query_validator(), with_changes(QUERY, query_id="q" * 101))
    assert found == ["$.query_id: '" + "q" * 56 + "... is too long"]


# --- the date-time check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-11-28T14:03:11.120Z", True),
        ("2026-11-28T14:03:11Z", True),
        ("2026-11-28T15:03:11+01:00", True),
        ("2026-11-28T09:03:11.5-05:00", True),
        ("2026-11-28t14:03:11z", True),  # RFC 3339 §5.6 allows lower case
        ("1998-12-31T23:59:60Z", True),  # a leap second
        ("1998-12-31T15:59:60-08:00", True),  # the same leap second, in California
        ("1998-12-31T22:59:60Z", False),  # 60 seconds in any other minute
        ("2026-11-28T14:03:11", False),  # no zone
        ("2025-01-23T13:18:22.274+0000", False),  # the old plugin format: no colon in the offset
        ("2026-11-28", False),
        ("2026-11-28 14:03:11Z", False),
        ("2026-02-29T00:00:00Z", False),  # not a leap year
        ("2024-02-29T00:00:00Z", True),
        ("2026-11-28T24:00:00Z", False),
        ("2026-11-28T14:03:11+24:00", False),
        ("2026-11-28T14:03:11Z\n", False),
        ("2026-11-28T14:03:11.Z", False),
        ("2026-1١-28T14:03:11Z", False),  # an Arabic-Indic digit
    ],
)
def test_date_time_check(value, valid):
    assert is_rfc3339_date_time(value) is valid

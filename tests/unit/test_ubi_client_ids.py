"""The pure parts of the client's UBI ids on searches and of the UBI store migrations."""

from __future__ import annotations

import pytest

from quarry.search.client_ids import parse_query_attributes, search_fingerprint, ubi_request
from quarry.search.schemas import SearchRequest, UbiRequest
from quarry.ubi_migrations import existing_event_mapping, without_field


def test_query_attributes_are_a_flat_object_sorted_by_key() -> None:
    assert parse_query_attributes('{"variant": 2, "experiment_id": "12345", "on": true}') == {
        "experiment_id": "12345",
        "on": True,
        "variant": 2,
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[1, 2]", "must map names to strings, numbers or booleans"),
        ('{"a": {"b": 1}}', "must map names to strings, numbers or booleans"),
        ('{"a": null}', "must map names to strings, numbers or booleans"),
        ("{nope", "is not a JSON object"),
        ('{"page": 2}', "'page' is set by Quarry"),
        ('{"a.b": 1}', "(no dot)"),
        ('{"": 1}', "must be 1-100 letters"),
        ('{"a": "' + "x" * 257 + '"}', "longer than 256 characters"),
        ("{" + ", ".join(f'"k{i}": {i}' for i in range(21)) + "}", "has 21 keys; at most 20"),
    ],
)
def test_bad_query_attributes_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_query_attributes(raw)
    assert reason in str(exc.value)


def test_every_problem_of_the_query_attributes_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as exc:
        parse_query_attributes('{"total": 1, "a.b": 2}')
    assert "'total' is set by Quarry" in str(exc.value) and "(no dot)" in str(exc.value)


def test_empty_ids_from_a_client_are_no_ids() -> None:
    assert ubi_request("", "", "", "") == UbiRequest()
    assert ubi_request("q-1", "c-1", "shop", None) == UbiRequest(
        query_id="q-1", client_id="c-1", application="shop"
    )


def test_a_retry_has_the_same_fingerprint_and_another_search_does_not() -> None:
    first = SearchRequest(q="desk lamp", ubi=UbiRequest(query_id="q-1", client_id="c-1"))
    retry = SearchRequest(q="desk lamp", ubi=UbiRequest(query_id="q-1", client_id="c-1"))
    assert search_fingerprint(first) == search_fingerprint(retry)
    for other in (
        SearchRequest(q="floor lamp", ubi=UbiRequest(query_id="q-1", client_id="c-1")),
        SearchRequest(q="desk lamp", page=2, ubi=UbiRequest(query_id="q-1", client_id="c-1")),
        SearchRequest(q="desk lamp", ubi=UbiRequest(query_id="q-1", client_id="c-2")),
    ):
        assert search_fingerprint(other) != search_fingerprint(first)


MAPPING = {
    "_meta": {"quarry_ordinal_base": 0},
    "dynamic": False,
    "properties": {
        "timestamp": {"type": "date", "format": "strict_date_time"},
        "client_id": {"type": "keyword", "fields": {"keyword": {"type": "keyword"}}},
        "event_attributes": {
            "properties": {"object": {"properties": {"name": {"type": "keyword"}, "id": {"type": "keyword"}}}}
        },
    },
}


def test_without_field_removes_a_field_a_nested_field_or_a_subfield() -> None:
    assert "client_id" not in without_field(MAPPING, "client_id")["properties"]
    nested = without_field(MAPPING, "event_attributes.object.name")
    assert nested["properties"]["event_attributes"]["properties"]["object"]["properties"] == {
        "id": {"type": "keyword"}
    }
    subfield = without_field(MAPPING, "client_id.keyword")
    assert subfield["properties"]["client_id"] == {"type": "keyword", "fields": {}}
    assert without_field(MAPPING, "no.such.field") == MAPPING
    assert "client_id" in MAPPING["properties"]  # a copy: the original is unchanged


def test_existing_indices_get_no_date_format_and_no_migration_mark() -> None:
    additions = existing_event_mapping(MAPPING)
    assert "_meta" not in additions and "timestamp" not in additions["properties"]
    assert additions["properties"]["client_id"] == MAPPING["properties"]["client_id"]

import datetime as dt

import pytest

from quarry.events.validation import STANDARD_ACTIONS, BatchRejectedError, events_of, validate_batch

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)


def event(**overrides):
    base = {
        "event_id": "e-1",
        "action_name": "click",
        "user_id": "u-1",
        "object_id": "P000001",
        "timestamp": "2026-11-28T11:59:00Z",
    }
    return {**base, **overrides}


def reasons(events, actions=STANDARD_ACTIONS):
    with pytest.raises(BatchRejectedError) as exc:
        validate_batch(events, NOW, WEEK, actions)
    return [(e.index, e.reason) for e in exc.value.errors]


def test_a_valid_event_with_every_optional_field() -> None:
    full = event(
        client_id="c-9",
        session_id="s-1",
        query_id="q-1",
        position=3,
        attributes={"page": "search"},
        timestamp="2026-11-28T13:04:00+01:00",
    )
    [parsed] = validate_batch([full], NOW, WEEK, STANDARD_ACTIONS)
    # The flat position counts from 1, the stored ordinal from 0: the third result is ordinal 2.
    assert parsed.ordinal == 2 and parsed.event.attributes == {"page": "search"}
    assert parsed.event_id == "e-1" and parsed.object_id == "P000001"
    assert parsed.timestamp == dt.datetime(2026, 11, 28, 12, 4, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"action_name": "x" * 101}, "action_name must be 1-100 printable characters"),
        ({"action_name": "click\n"}, "action_name must be 1-100 printable characters"),
        ({"user_id": None}, "one of client_id, user_id or session_id is required"),
        ({"object_id": None}, "a click event needs the product"),
        ({"timestamp": 1_764_331_140}, "must be in milliseconds"),
        ({"position": 0}, "position is 1-based"),
        ({"event_attributes": {"position": {"ordinal": -1}}}, "ordinal is 0-based"),
        ({"timestamp": "2026-11-28T12:06:00Z"}, "more than 5 minutes in the future"),
        ({"timestamp": "2026-11-20T11:59:00Z"}, "older than 7 days"),
        ({"timestamp": "2026-11-28T11:59:00"}, "needs a time zone"),
        ({"timestamp": "yesterday"}, "not ISO 8601"),
        ({"event_id": ""}, "event_id must be 1-100 characters"),
        ({"event_id": "x" * 101}, "event_id must be 1-100 characters"),
        ({"object_id": "P\t1"}, "object_id must be 1-256 printable characters"),
        ({"message": "m" * 1025}, "message must be at most 1024 characters"),
        ({"session_id": "s\n1"}, "session_id must be"),
    ],
)
def test_each_rule(overrides, reason) -> None:
    [(index, found)] = reasons([event(**overrides)])
    assert index == 0 and reason in found


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"event_id": "e", "action_name": "click", "user_id": "u"}, "missing required field"),
        ({**event(), "position": "3"}, "Expected `int | null`, got `str`"),
        (42, "Expected `object`, got `int`"),
    ],
)
def test_shape_errors(raw, reason) -> None:
    [(_, found)] = reasons([raw])
    assert reason in found


def test_every_bad_event_is_reported_with_its_index() -> None:
    found = reasons([event(), event(action_name=""), event(), event(user_id=None), 7])
    assert [index for index, _ in found] == [1, 3, 4]


def test_batch_size() -> None:
    with pytest.raises(BatchRejectedError, match="1 to 500"):
        validate_batch([], NOW, WEEK, STANDARD_ACTIONS)
    with pytest.raises(BatchRejectedError, match="1 to 500"):
        validate_batch([event(event_id=f"e{i}") for i in range(501)], NOW, WEEK, STANDARD_ACTIONS)


# A UBI 1.3 event as ubi.js sends it: no event_id, no user_id, the product and its rank nested.
UBI_CLICK = {
    "application": "storefront",
    "action_name": "click",
    "query_id": "5b0c7c1e-0000-4000-8000-000000000001",
    "client_id": "c-9",
    "user_query": "Running Shoes",
    "timestamp": "2026-11-28T11:59:00.123Z",
    "message_type": "INFO",
    "message": "clicked a result",
    "page_id": "/search",
    "event_attributes": {
        "object": {"object_id": "P000001", "object_id_field": "product_id", "name": "Trail runner"},
        "position": {"ordinal": 2, "x": 10, "y": 240.5, "page_depth": 1},
        "browser": "firefox",
    },
    "extra_info": {"ab": "b"},
}


def test_a_ubi_13_event_is_accepted_as_sent() -> None:
    [parsed] = validate_batch([{**UBI_CLICK, "user_id": "", "type": "event"}], NOW, WEEK, STANDARD_ACTIONS)
    # Fields the spec does not name are kept as sent (its root allows them); an empty user_id is none.
    assert parsed.extras == {"type": "event"}
    assert (parsed.object_id, parsed.object_id_field, parsed.ordinal) == ("P000001", "product_id", 2)
    assert parsed.event.user_query == "Running Shoes" and parsed.event.user_id is None
    assert parsed.event_id.startswith("ubi-")


def test_an_event_without_an_id_gets_the_same_id_when_resent_and_another_when_different() -> None:
    [first] = validate_batch([UBI_CLICK], NOW, WEEK, STANDARD_ACTIONS)
    [again] = validate_batch([dict(reversed(list(UBI_CLICK.items())))], NOW, WEEK, STANDARD_ACTIONS)
    [later] = validate_batch(
        [{**UBI_CLICK, "timestamp": "2026-11-28T11:59:01Z"}], NOW, WEEK, STANDARD_ACTIONS
    )
    assert first.event_id == again.event_id != later.event_id


def test_any_action_name_is_stored_and_only_feature_actions_need_a_product() -> None:
    custom = {"action_name": "hover", "client_id": "c", "timestamp": "2026-11-28T11:00:00Z"}
    [parsed] = validate_batch([custom], NOW, WEEK, STANDARD_ACTIONS)
    assert parsed.event.action_name == "hover" and parsed.object_id is None
    assert "needs the product" in reasons([{**custom, "action_name": "purchase"}])[0][1]


def test_object_ids_may_be_numbers_and_positions_points() -> None:
    numeric = {
        **UBI_CLICK,
        "event_attributes": {"object": {"object_id": 42}, "position": {"xy": {"x": 3, "y": 4.5}}},
    }
    [parsed] = validate_batch([numeric], NOW, WEEK, STANDARD_ACTIONS)
    assert parsed.object_id == "42" and parsed.ordinal is None


def test_epoch_milliseconds_are_a_timestamp() -> None:
    millis = int(dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.UTC).timestamp() * 1000)
    [parsed] = validate_batch([{**UBI_CLICK, "timestamp": millis}], NOW, WEEK, STANDARD_ACTIONS)
    assert parsed.timestamp == dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.UTC)
    # The UBI plugin writes offsets without a colon.
    [plugin] = validate_batch(
        [{**UBI_CLICK, "timestamp": "2026-11-28T11:00:00.274+0000"}], NOW, WEEK, STANDARD_ACTIONS
    )
    assert plugin.timestamp.minute == 0 and plugin.timestamp.tzinfo == dt.UTC


def test_every_reason_of_an_event_is_reported() -> None:
    bad = {
        **UBI_CLICK,
        "color": "red",
        "position": "3",
        "event_attributes": {"object": {"object_id": [7]}, "position": {"ordinal": "first"}},
    }
    [(_, found)] = reasons([bad])
    for reason in (
        "`position`",
        "`event_attributes.object`",
        "`event_attributes.position`",
    ):
        assert reason in found, found
    [(_, found)] = reasons([event(position=0, timestamp="2026-11-28T12:30:00Z", client_id="c 1")])
    assert "1-based" in found and "future" in found and "client_id must be" in found


def test_flat_and_nested_fields_must_agree() -> None:
    nested = {"object": {"object_id": "P000002"}, "position": {"ordinal": 2}}
    # Flat position 2 is the second result, ordinal 1; ordinal 2 is the third.
    [(_, found)] = reasons([event(position=2, event_attributes=nested)])
    assert "object_id and event_attributes.object.object_id differ" in found
    assert "position (1-based) and event_attributes.position.ordinal (0-based) name different ranks" in found


def test_the_first_result_is_position_1_and_ordinal_0() -> None:
    first = {"object": {"object_id": "P000001"}, "position": {"ordinal": 0}}
    [flat, nested, both] = validate_batch(
        [
            event(position=1),
            event(position=None, event_attributes=first),
            event(position=1, event_attributes=first),
        ],
        NOW,
        WEEK,
        STANDARD_ACTIONS,
    )
    assert flat.ordinal == nested.ordinal == both.ordinal == 0


def test_a_replay_accepts_events_of_any_age() -> None:
    old = event(timestamp="2025-01-02T03:04:05Z")
    [(_, found)] = reasons([old])
    assert "older than 7 days" in found
    [replayed] = validate_batch([old], NOW, None, STANDARD_ACTIONS)
    assert replayed.timestamp == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("body", "count"),
    [([UBI_CLICK, UBI_CLICK], 2), ({"events": [UBI_CLICK]}, 1), (UBI_CLICK, 1)],
)
def test_arrays_envelopes_and_single_events_are_bodies(body, count) -> None:
    assert len(events_of(body)) == count


def test_a_body_that_holds_no_events_is_refused() -> None:
    with pytest.raises(BatchRejectedError, match="must be a list"):
        events_of({"events": "all of them"})
    with pytest.raises(BatchRejectedError, match="JSON array of events"):
        events_of("click")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_attributes", {"": 1, "position": {"ordinal": 1}}),
        ("extra_info", {"a..b": 1}),
        ("event_attributes", {"object": {"object_id": "P1", "object_detail": {".hidden": 1}}}),
        ("custom", {" ": [{"x": 1}]}),
        # A dot is a path: this would land on the integer field event_attributes.position.ordinal.
        ("event_attributes", {"position.ordinal": "abc"}),
    ],
)
def test_keys_opensearch_cannot_store_are_refused_before_storage(field, value) -> None:
    [(_, found)] = reasons([{**UBI_CLICK, field: value}])
    assert "a key OpenSearch cannot store" in found


def test_what_quarry_sets_is_not_taken_from_the_client() -> None:
    [(_, found)] = reasons([{**UBI_CLICK, "received_at": "2020-01-01T00:00:00Z"}])
    assert "`received_at` is set by Quarry" in found


def test_readers_find_the_product_of_events_written_directly() -> None:
    """Quarry copies the product to the top level; Data Prepper and the UBI plugin only nest it."""
    from quarry.ubi import event_object_id

    assert event_object_id({"object_id": "P1", "event_attributes": {"object": {"object_id": "P1"}}}) == "P1"
    assert event_object_id({"event_attributes": {"object": {"object_id": 42}}}) == "42"
    assert event_object_id({"action_name": "page_exit", "event_attributes": {"position": {}}}) is None


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        # Each would be accepted and then refused by the mapping: a retry loop, not an error.
        ({"session_id": {"id": "s"}}, "`event_attributes.session_id`"),
        ({"attributes": "search page"}, "`event_attributes.attributes`"),
        ({"position": {"ordinal": 2**31}}, "`event_attributes.position`"),
        ({"position": {"xy": {"x": 1e12, "y": 0}}}, "`event_attributes.position`"),
    ],
)
def test_what_the_mapping_would_refuse_is_refused_at_validation(attributes, reason) -> None:
    [(_, found)] = reasons([{**UBI_CLICK, "event_attributes": attributes}])
    assert reason in found, found


def test_flat_and_nested_session_and_attributes_must_agree() -> None:
    nested = {"session_id": "s-2", "attributes": {"page": "home"}}
    [(_, found)] = reasons([event(session_id="s-1", attributes={"page": "search"}, event_attributes=nested)])
    assert "session_id and event_attributes.session_id differ" in found
    assert "attributes and event_attributes.attributes differ" in found

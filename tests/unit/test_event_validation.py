import datetime as dt

import pytest

from api.events.validation import STANDARD_ACTIONS, BatchRejectedError, validate_batch

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
    [(parsed, timestamp)] = validate_batch([full], NOW, WEEK, STANDARD_ACTIONS)
    assert parsed.position == 3 and parsed.attributes == {"page": "search"}
    assert timestamp == dt.datetime(2026, 11, 28, 12, 4, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"action_name": "teleport"}, "action_name 'teleport' is not one of"),
        ({"user_id": None}, "user_id or client_id is required"),
        ({"position": 0}, "position is 1-based"),
        ({"timestamp": "2026-11-28T12:06:00Z"}, "more than 5 minutes in the future"),
        ({"timestamp": "2026-11-20T11:59:00Z"}, "older than 7 days"),
        ({"timestamp": "2026-11-28T11:59:00"}, "needs a time zone"),
        ({"timestamp": "yesterday"}, "not ISO 8601"),
        ({"event_id": ""}, "event_id must be 1-100 characters"),
        ({"event_id": "x" * 101}, "event_id must be 1-100 characters"),
        ({"object_id": "P 1"}, "object_id must be"),
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
        ({**event(), "color": "red"}, "unknown field `color`"),
        ({**event(), "position": "3"}, "Expected `int | null`, got `str`"),
        (42, "Expected `object`, got `int`"),
    ],
)
def test_shape_errors(raw, reason) -> None:
    [(_, found)] = reasons([raw])
    assert reason in found


def test_every_bad_event_is_reported_with_its_index() -> None:
    found = reasons([event(), event(action_name="x"), event(), event(user_id=None), 7])
    assert [index for index, _ in found] == [1, 3, 4]


def test_configured_actions_and_batch_size() -> None:
    assert validate_batch([event(action_name="wishlist")], NOW, WEEK, STANDARD_ACTIONS | {"wishlist"})
    with pytest.raises(BatchRejectedError, match="1 to 500"):
        validate_batch([], NOW, WEEK, STANDARD_ACTIONS)
    with pytest.raises(BatchRejectedError, match="1 to 500"):
        validate_batch([event(event_id=f"e{i}") for i in range(501)], NOW, WEEK, STANDARD_ACTIONS)

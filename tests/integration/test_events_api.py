"""POST /v1/events on the real stack: stored once, in the UBI shape, in the right daily index."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from quarry.ubi import UBI_EVENTS, events_index
from tests.conftest import make_event as event
from tests.conftest import shopper_privacy


@pytest.fixture(scope="module")
def client(app_client, settings):
    with app_client(settings) as test_client:
        yield test_client


def stored(engine, event_ids: list[str]) -> int:
    engine.refresh(UBI_EVENTS)
    return engine.count(UBI_EVENTS, {"terms": {"event_id": event_ids}})


def test_accepted_events_are_stored_once_and_resends_are_duplicates(client, engine) -> None:
    events = [event() for _ in range(5)]
    first = client.post("/v1/events", json={"events": events})
    again = client.post("/v1/events", json={"events": [*events[:3], event()]})
    assert (first.status_code, first.json()) == (202, {"accepted": 5, "duplicates": 0})
    assert (again.status_code, again.json()) == (202, {"accepted": 1, "duplicates": 3})
    assert stored(engine, [e["event_id"] for e in events]) == 5


def test_the_same_id_twice_in_one_batch_is_one_event(client, engine) -> None:
    twin = event()
    response = client.post("/v1/events", json={"events": [twin, dict(twin)]})
    assert response.json() == {"accepted": 1, "duplicates": 1}
    assert stored(engine, [twin["event_id"]]) == 1


def test_one_invalid_event_rejects_the_whole_batch(client, engine) -> None:
    good = [event() for _ in range(3)]
    response = client.post("/v1/events", json={"events": [*good[:2], event(position=0), good[2]]})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["events[2]"] and "position" in body["errors"][0]["reason"]
    assert stored(engine, [e["event_id"] for e in good]) == 0


def test_events_are_stored_in_the_ubi_shape_in_their_days_index(client, engine, pseudonyms) -> None:
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    sent = event(timestamp=yesterday.isoformat(), action_name="add_to_cart", position=4)
    assert client.post("/v1/events", json={"events": [sent]}).status_code == 202
    index = events_index(yesterday.date())
    assert index in engine.alias_targets(UBI_EVENTS)
    document = engine.get_document(index, sent["event_id"])
    assert document is not None
    assert (document["action_name"], document["object_id"], document["user_id"]) == (
        "add_to_cart",
        "P000001",
        pseudonyms.user("u-it"),
    )
    assert document["event_attributes"]["object"] == {"object_id": "P000001", "object_id_field": "product_id"}
    assert document["event_attributes"]["position"] == {"ordinal": 3}  # the 4th result, counted from 0
    assert document["event_attributes"]["attributes"] == {"page": "search"}
    assert document["timestamp"].endswith("Z") and document["application"] == "quarry"


def ubi_js_click(**overrides: object) -> dict[str, object]:
    """A click as ubi.js sends it (UBI 1.3): no event_id or user_id, the product and rank nested."""
    click: dict[str, object] = {
        "application": "storefront",
        "action_name": "click",
        "query_id": str(uuid.uuid4()),
        "client_id": f"c-{uuid.uuid4().hex[:8]}",
        "user_query": "Trail Running Shoes",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message_type": "INFO",
        "page_id": "/search",
        "event_attributes": {
            "object": {"object_id": "P000001", "object_id_field": "product_id", "name": "Trail runner"},
            "position": {"ordinal": 3, "page_depth": 1},
        },
        "extra_info": {"experiment": "b"},
        "user_id": "",  # ubi.js sends an empty user_id for anonymous shoppers
        "type": "event",  # a routing field of some Data Prepper pipelines: not in the spec
    }
    return {**click, **overrides}


def stored_events(engine, query_id: str) -> list[dict[str, object]]:
    engine.refresh(UBI_EVENTS)
    return [h.source for h in engine.search(UBI_EVENTS, {"query": {"term": {"query_id": query_id}}}).hits]


def test_ubi_clients_post_bare_arrays_and_single_events(client, engine) -> None:
    """ubi.js and Data Prepper post a JSON array; a single event object is a batch of one."""
    array = [ubi_js_click(), ubi_js_click(action_name="hover")]
    array[1]["query_id"] = array[0]["query_id"]
    assert client.post("/v1/events", json=array).json() == {"accepted": 2, "duplicates": 0}
    single = ubi_js_click(event_attributes={"object": {"object_id": "P000002"}})
    assert client.post("/v1/events", json=single).json() == {"accepted": 1, "duplicates": 0}
    stored = {e["action_name"]: e for e in stored_events(engine, str(array[0]["query_id"]))}
    click = stored["click"]
    assert click["user_query"] == "Trail Running Shoes"  # as typed
    assert click["event_attributes"]["object"]["name"] == "Trail runner"
    assert click["event_attributes"]["position"] == {"ordinal": 3, "page_depth": 1}
    assert click["object_id"] == "P000001" and click["application"] == "storefront"
    assert click["extra_info"] == {"experiment": "b"} and click["page_id"] == "/search"
    assert "user_id" not in click and None not in click.values()  # no explicit nulls
    assert click["type"] == "event"  # a field outside the spec is kept as sent
    assert stored["hover"]["event_id"].startswith("ubi-")  # a custom action, stored as sent


def test_a_resent_event_without_an_id_is_a_duplicate(client, engine) -> None:
    click = ubi_js_click()
    assert client.post("/v1/events", json=[click]).json() == {"accepted": 1, "duplicates": 0}
    assert client.post("/v1/events", json=[click]).json() == {"accepted": 0, "duplicates": 1}
    assert len(stored_events(engine, str(click["query_id"]))) == 1


def test_every_reason_of_every_bad_ubi_event_comes_back(client) -> None:
    bad = ubi_js_click(timestamp=1_700_000_000, event_attributes={"position": {"ordinal": "third"}})
    response = client.post("/v1/events", json=[ubi_js_click(), bad])
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "events[1]"
    for reason in ("event_attributes.position", "milliseconds"):
        assert reason in error["reason"], error["reason"]


def test_clients_own_attribute_keys_never_fail_storage(client, engine) -> None:
    """Two clients use one `event_attributes` key with different types: with dynamic mapping the
    second would fail at storage after validation; both are stored, as sent."""
    key = f"browser_{uuid.uuid4().hex[:6]}"
    as_text = ubi_js_click(event_attributes={"object": {"object_id": "P000001"}, key: "firefox"})
    as_object = ubi_js_click(event_attributes={"object": {"object_id": "P000001"}, key: {"name": "firefox"}})
    for sent in (as_text, as_object):
        assert client.post("/v1/events", json=[sent]).status_code == 202
        [stored] = stored_events(engine, str(sent["query_id"]))
        assert stored["event_attributes"][key] == sent["event_attributes"][key]  # type: ignore[index]


def test_direct_writers_append_to_the_ubi_events_alias(engine, settings) -> None:
    """Data Prepper's OpenSearch sink and the UBI plugin write to `ubi_events` itself: the alias has one
    write index, today's, and ensuring the layout again keeps it so."""
    from quarry.ubi import ensure_ubi_indices

    ensure_ubi_indices(engine, settings.mappings_dir)
    ensure_ubi_indices(engine, settings.mappings_dir)
    written = engine.request("POST", f"/{UBI_EVENTS}/_doc", ubi_js_click(type=None))
    assert written["_index"] == events_index(dt.datetime.now(dt.UTC).date())
    aliases = engine.request("GET", f"/_alias/{UBI_EVENTS}")
    writers = [name for name, entry in aliases.items() if entry["aliases"][UBI_EVENTS].get("is_write_index")]
    assert writers == [written["_index"]]


def test_events_written_directly_train_the_recommender(engine, settings) -> None:
    """A direct writer nests the product only; the offline jobs read it from there."""
    from pipelines.recommend.train import load_interactions
    from quarry.ubi import ensure_ubi_indices

    ensure_ubi_indices(engine, settings.mappings_dir)
    user = f"u-direct-{uuid.uuid4().hex[:8]}"
    engine.request("POST", f"/{UBI_EVENTS}/_doc", ubi_js_click(user_id=user, type=None))
    engine.request("POST", f"/{UBI_EVENTS}/_doc", ubi_js_click(user_id="", type=None))  # anonymous
    engine.refresh(UBI_EVENTS)
    rows = load_interactions(engine, 1, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert [(r.item, r.action) for r in rows if r.user == user] == [("P000001", "click")]
    assert all(r.user for r in rows)


def test_the_ubi_js_path_is_the_same_route(client, engine) -> None:
    click = ubi_js_click()
    assert client.post("/ubi_events", json=[click]).json() == {"accepted": 1, "duplicates": 0}
    assert client.post("/v1/events", json=[click]).json() == {"accepted": 0, "duplicates": 1}


def test_malformed_json_is_a_400_problem(client) -> None:
    response = client.post(
        "/v1/events", content=b'{"events": [ {', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_retention_drops_whole_old_days_only(engine, settings) -> None:
    from quarry.ubi import drop_expired_events, ensure_ubi_indices

    ensure_ubi_indices(engine, settings.mappings_dir)
    today = dt.datetime.now(dt.UTC).date()
    # A year of retention: nothing real is that old (events older than a week are refused at ingestion).
    old, kept = events_index(today - dt.timedelta(days=400)), events_index(today - dt.timedelta(days=300))
    for name in (old, kept):
        engine.create_index(name, {})
    try:
        assert old in engine.alias_targets(UBI_EVENTS)  # the template put the new day behind the alias
        dropped = drop_expired_events(engine, retention_days=365, today=today)
        assert dropped == [old]
        assert not engine.index_exists(old) and engine.index_exists(kept)
    finally:
        engine.delete_index(old)
        engine.delete_index(kept)


def test_session_engagement_boosts_that_category_in_search(api_client, demo_catalog) -> None:
    """A session that viewed sofas gets Home & Kitchen results lifted by the affinity component."""
    session = f"s-boost-{uuid.uuid4().hex[:8]}"
    viewed = [
        event(session_id=session, action_name="view", object_id=pid, user_id=None, client_id="c-1")
        for pid in api_client.get("/v1/search", params={"q": "sofa", "size": 5}).json()["results"]
        for pid in [pid["product_id"]]
    ]
    assert api_client.post("/v1/events", json={"events": viewed}).status_code == 202
    plain = api_client.get("/v1/search", params={"q": "green", "size": 10, "explain": "true"}).json()
    boosted = api_client.get(
        "/v1/search", params={"q": "green", "size": 10, "explain": "true", "session_id": session}
    ).json()
    affinities = [r["score_breakdown"]["affinity"]["value"] for r in boosted["results"]]
    assert all(r["score_breakdown"]["affinity"]["value"] == 0 for r in plain["results"])
    assert max(affinities) == 1.0  # every viewed product was Home & Kitchen
    home = [r for r in boosted["results"] if r["category"].startswith("Home & Kitchen")]
    assert home and all(r["score_breakdown"]["affinity"]["value"] == 1.0 for r in home)


def test_what_storage_refuses_is_a_422_naming_the_event_not_a_retry(engine, settings) -> None:
    """Validation cannot know every mapping (a day index may have been created by hand); an event the
    cluster refuses would be refused on every retry, so it is named in a 422, not answered with 503."""
    from quarry.acting_for import ANY_USER
    from quarry.events.service import EventService
    from quarry.events.validation import BatchRejectedError
    from quarry.ubi import UbiLayout

    old_day = dt.datetime(2015, 1, 1, 12, tzinfo=dt.UTC)
    index = events_index(old_day.date())
    engine.create_index(index, {"mappings": {"properties": {"message": {"type": "integer"}}}})
    try:
        service = EventService(
            engine,
            max_age_days=10_000,
            extra_actions="",
            layout=UbiLayout(engine, settings.mappings_dir),
            privacy=shopper_privacy(),
        )
        good = ubi_js_click(timestamp=old_day.isoformat(), type=None)
        bad = ubi_js_click(timestamp=old_day.isoformat(), message="not a number", type=None)
        with pytest.raises(BatchRejectedError) as refused:
            service.ingest([good, bad], acting=ANY_USER)
        [error] = refused.value.errors
        assert error.index == 1 and "message" in error.reason
        engine.refresh(index)
        assert engine.count(index) == 1  # the good one was stored, and the detail says so
        assert "the other 1 were stored" in str(refused.value)
    finally:
        engine.delete_index(index)


def test_the_write_index_follows_the_day_and_retention_keeps_it(engine, settings) -> None:
    """A stale write index (no event through Quarry since an old day) moves to today's with the next
    batch; until then retention does not delete it, since direct writers are filling it."""
    from quarry.acting_for import ANY_USER
    from quarry.events.service import EventService
    from quarry.ubi import (
        UbiLayout,
        drop_expired_events,
        ensure_ubi_indices,
        point_write_index,
        write_indices,
    )

    ensure_ubi_indices(engine, settings.mappings_dir)
    stale = events_index(dt.date(2015, 1, 2))
    engine.create_index(stale, {})
    try:
        point_write_index(engine, stale)
        today = dt.datetime.now(dt.UTC).date()
        assert stale not in drop_expired_events(engine, retention_days=365, today=today)
        assert engine.index_exists(stale)
        service = EventService(
            engine,
            max_age_days=7,
            extra_actions="",
            layout=UbiLayout(engine, settings.mappings_dir),
            privacy=shopper_privacy(),
        )
        service.ingest([ubi_js_click(type=None)], acting=ANY_USER)
        assert write_indices(engine) == [events_index(today)]
        assert stale in drop_expired_events(engine, retention_days=365, today=today)
    finally:
        if engine.index_exists(stale):
            engine.delete_index(stale)
        point_write_index(engine, events_index(dt.datetime.now(dt.UTC).date()))

"""UBI 1.3 conformance on the real stack: what stock UBI tooling sends is accepted, what Quarry stores
validates against the spec's schemas (tests/contract/ubi), queries and events join the way click
models and the Search Relevance Workbench join them, and COEC makes judgments from Quarry's logs.

Position convention (docs/events.md#positions): `event_attributes.position.ordinal` counts from 0,
so an event's product is `query_response_hit_ids[ordinal]` of its search."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipelines import simulator
from pipelines.coec import coec_events_query, coec_judgments
from quarry.ubi import UBI_EVENTS, UBI_QUERIES, events_index
from tests.contract.ubi.schemas import event_validator, problems, query_validator

ROOT = Path(__file__).resolve().parents[2]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def search(client, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/search", params={"q": q, "size": 10, **params})
    assert response.status_code == 200, response.text
    return response.json()


def logged_query(engine, query_id: str) -> dict[str, Any]:
    engine.refresh(UBI_QUERIES)
    record = engine.get_document(UBI_QUERIES, query_id)
    assert record is not None, f"query {query_id} was not logged"
    return record


def events_of(engine, field: str, value: str) -> list[dict[str, Any]]:
    engine.refresh(UBI_EVENTS)
    return [h.source for h in engine.scan(UBI_EVENTS, {"term": {field: value}})]


# --- searches take the client's ids ---------------------------------------------------------------


def test_a_search_is_logged_under_the_clients_ids_as_typed(api_client, engine, pseudonyms) -> None:
    query_id, client = str(uuid.uuid4()), f"c-{uuid.uuid4().hex[:8]}"
    body = search(
        api_client,
        "Trail  Running SHOES",
        query_id=query_id,
        client_id=client,
        application="storefront",
        query_attributes=json.dumps({"experiment_id": "12345", "variant": 2}),
    )
    assert body["query_id"] == query_id and body["ext"] == {"ubi": {"query_id": query_id}}
    assert api_client.app.state.search_service.query_log.flush(timeout_s=30)
    record = logged_query(engine, query_id)
    assert record["user_query"] == "Trail  Running SHOES"  # as typed
    assert record["normalized_query"] == "trail running shoes"
    # stored as its pseudonym (docs/privacy.md), never as sent
    assert record["client_id"] == pseudonyms.client(client) and record["application"] == "storefront"
    assert client not in json.dumps(record)
    assert (
        record["query_attributes"]["experiment_id"] == "12345" and record["query_attributes"]["variant"] == 2
    )
    assert record["query_response_hit_ids"] == [r["product_id"] for r in body["results"]]
    assert record["query_response_id"] and record["query_response_id"] != query_id
    assert json.loads(record["query"])["q"] == "Trail  Running SHOES"
    assert None not in record.values() and None not in record["query_attributes"].values()
    assert problems(query_validator(), record) == []


def test_without_client_ids_the_session_is_no_client(api_client, engine) -> None:
    """`client_id` names the client on query records as on events; a session is not a client."""
    body = search(api_client, "coffee mug", session_id=f"s-{uuid.uuid4().hex[:8]}")
    assert api_client.app.state.search_service.query_log.flush(timeout_s=30)
    record = logged_query(engine, body["query_id"])
    assert "client_id" not in record and record["session_id"].startswith("s-")
    assert record["application"] == "quarry"
    assert problems(query_validator(), record) == []


def test_a_query_id_names_one_search(api_client) -> None:
    query_id = f"q-{uuid.uuid4().hex}"
    first = search(api_client, "desk lamp", query_id=query_id)
    retried = search(api_client, "desk lamp", query_id=query_id)  # a retry of the same search
    assert first["query_id"] == retried["query_id"] == query_id
    reused = api_client.get("/v1/search", params={"q": "floor lamp", "size": 10, "query_id": query_id})
    assert reused.status_code == 409
    assert reused.headers["content-type"].startswith("application/problem+json")
    problem = reused.json()
    assert problem["status"] == 409 and problem["trace_id"] and query_id in problem["detail"]


def test_unchecked_ids_never_fail_a_search_and_never_overwrite_a_record(
    app_client, demo_catalog, engine
) -> None:
    """`QUARRY_UBI_QUERY_ID_CHECK=false`: no Redis claim; a reused id's search is answered, and the
    query log keeps the first search's record (the second is refused and counted)."""
    import msgspec

    query_id = f"q-{uuid.uuid4().hex}"
    with app_client(msgspec.structs.replace(demo_catalog, ubi_query_id_check=False)) as client:
        first = search(client, "desk lamp", query_id=query_id)
        assert client.app.state.search_service.query_log.flush(timeout_s=30)
        second = search(client, "floor lamp", query_id=query_id)  # no 409
        assert client.app.state.search_service.query_log.flush(timeout_s=30)
        metrics = client.get("/metrics").text
    assert first["query_id"] == second["query_id"] == query_id
    assert logged_query(engine, query_id)["user_query"] == "desk lamp"
    [taken] = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('quarry_ubi_query_log_dropped_total{reason="duplicate_id"}')
    ]
    assert taken >= 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"query_id": "has space"}, "query_id"),
        ({"query_id": "x" * 101}, "query_id"),
        ({"client_id": "c\n1"}, "client_id"),
        ({"query_attributes": "not json"}, "not a JSON object"),
        ({"query_attributes": '{"nested": {"a": 1}}'}, "strings, numbers or booleans"),
        ({"query_attributes": '{"page": 3}'}, "set by Quarry"),
        ({"query_attributes": '{"a.b": 1}'}, "no dot"),
    ],
)
def test_bad_client_ids_are_a_clear_400(api_client, params, reason) -> None:
    response = api_client.get("/v1/search", params={"q": "sofa", **params})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["trace_id"] and reason in json.dumps(body), body


# --- events as UBI clients send them --------------------------------------------------------------


def ubi_js_event(query_id: str, client: str, action: str, product: str, ordinal: int) -> dict[str, Any]:
    """What ubi.js's `UbiClient.trackEvent` posts: no user_query, an empty user_id, the product and
    its rank nested."""
    return {
        "application": "storefront",
        "action_name": action,
        "client_id": client,
        "user_id": "",
        "session_id": f"s-{client}",
        "query_id": query_id,
        "timestamp": now_iso(),
        "message_type": "INFO",
        "event_attributes": {
            "object": {"object_id": product, "object_id_field": "product_id", "description": "a product"},
            "position": {"ordinal": ordinal},
        },
    }


def test_events_of_a_search_join_it(api_client, engine, pseudonyms) -> None:
    """Every event that names a search gets its `user_query` at ingestion (ubi.js sends none), agrees
    with it on `client_id`, and its product is the search's hit at its ordinal."""
    query_id, client = str(uuid.uuid4()), f"c-{uuid.uuid4().hex[:8]}"
    body = search(api_client, "Wireless Headphones", query_id=query_id, client_id=client)
    hits = [r["product_id"] for r in body["results"]]
    assert len(hits) >= 3
    events = [ubi_js_event(query_id, client, "impression", hit, ordinal) for ordinal, hit in enumerate(hits)]
    events.append(ubi_js_event(query_id, client, "click", hits[2], 2))
    # ubi.js posts one event per request, as a one-element array, to /ubi_events
    for event in events:
        response = api_client.post("/ubi_events", json=[event])
        assert response.status_code == 202, response.text
    stored = events_of(engine, "query_id", query_id)
    assert len(stored) == len(events)
    assert api_client.app.state.search_service.query_log.flush(timeout_s=30)
    record = logged_query(engine, query_id)
    for event in stored:
        assert event["user_query"] == record["user_query"] == "Wireless Headphones"
        assert event["client_id"] == record["client_id"] == pseudonyms.client(client)
        ordinal = event["event_attributes"]["position"]["ordinal"]
        assert event["event_attributes"]["object"]["object_id"] == record["query_response_hit_ids"][ordinal]
        assert problems(event_validator(strict=True), event) == []


def test_a_clients_user_query_is_kept(api_client, engine) -> None:
    query_id, client = str(uuid.uuid4()), f"c-{uuid.uuid4().hex[:8]}"
    hits = [r["product_id"] for r in search(api_client, "garden hose", query_id=query_id)["results"]]
    event = {**ubi_js_event(query_id, client, "click", hits[0], 0), "user_query": "hose for the garden"}
    assert api_client.post("/v1/events", json=event).status_code == 202
    [stored] = events_of(engine, "query_id", query_id)
    assert stored["user_query"] == "hose for the garden"


def test_an_event_that_came_before_its_search_is_filled_later(api_client, engine) -> None:
    """An event can overtake its search's record (another worker's write buffer); the fill job gives
    it the search's user_query once the record is there."""
    query_id, client = str(uuid.uuid4()), f"c-{uuid.uuid4().hex[:8]}"
    early = ubi_js_event(query_id, client, "click", "P000001", 0)
    assert api_client.post("/v1/events", json=[early]).status_code == 202
    [stored] = events_of(engine, "query_id", query_id)
    assert "user_query" not in stored
    search(api_client, "Camping Tent", query_id=query_id, client_id=client)
    assert api_client.app.state.search_service.query_log.flush(timeout_s=30)
    run = subprocess.run(
        [sys.executable, "-m", "pipelines", "events-fill-queries", "--days", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["filled"] >= 1
    [filled] = events_of(engine, "query_id", query_id)
    assert filled["user_query"] == "Camping Tent"


def test_the_specs_own_sample_event_is_accepted_and_stored_as_sent(api_client, engine) -> None:
    """o19s/ubi samples/event-opensearch.json (also the UBI plugin README's example), with a current
    time: a custom action, an empty position and an object without an id. Quarry stores it as sent
    (the sample itself does not pass the spec's schema: `position: {}` and the object's missing id)."""
    query_id = str(uuid.uuid4())
    sample = {
        "action_name": "page_exit",
        "user_id": "1821196507152684",
        "query_id": query_id,
        "session_id": "c3d22be7-6bdc-4250-91e1-fc8a92a9b1f9",
        "page_id": "/docs/latest/",
        "timestamp": now_iso(),
        "message_type": "INFO",
        "message": "On page /docs/latest/ for 3.35 seconds",
        "event_attributes": {
            "position": {},
            "object": {"idleTimeoutMs": 5000, "currentPageName": "http://localhost:4000/docs/latest/"},
        },
    }
    assert api_client.post("/v1/events", json=sample).json() == {"accepted": 1, "duplicates": 0}
    [stored] = events_of(engine, "query_id", query_id)
    assert stored["event_attributes"]["object"] == sample["event_attributes"]["object"]
    assert stored["message"] == sample["message"] and stored["page_id"] == "/docs/latest/"
    assert problems(event_validator(), stored) != []  # as the spec's own sample does not conform


def test_data_prepper_and_curl_shapes_are_accepted(api_client, engine, pseudonyms) -> None:
    """Data Prepper's HTTP source takes a JSON array with epoch-millisecond times and `xy` positions
    (o19s/chorus-opensearch-edition's send-event.sh); curl users post one object."""
    client = f"dp-{uuid.uuid4().hex[:8]}"
    epoch_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    data_prepper = [
        {
            "action_name": "product_hover",
            "client_id": client,
            "query_id": str(uuid.uuid4()),
            "timestamp": epoch_ms,
            "message_type": "INFO",
            "event_attributes": {
                "object": {
                    "object_id": "P000010",
                    "object_id_field": "product_id",
                    "object_detail": {"k": 1},
                },
                "position": {"xy": {"x": 480, "y": 578}},
            },
        },
        {"action_name": "page_exit", "client_id": client, "timestamp": epoch_ms, "page_id": "/docs/latest/"},
    ]
    assert api_client.post("/v1/events", json=data_prepper).json() == {"accepted": 2, "duplicates": 0}
    curl = {"action_name": "add_to_cart", "client_id": client, "timestamp": now_iso()}
    curl["event_attributes"] = {"object": {"object_id": "P000010"}, "position": {"ordinal": 0}}
    assert api_client.post("/v1/events", json=curl).json() == {"accepted": 1, "duplicates": 0}
    stored = {e["action_name"]: e for e in events_of(engine, "client_id", pseudonyms.client(client))}
    assert set(stored) == {"product_hover", "page_exit", "add_to_cart"}
    assert stored["product_hover"]["timestamp"].endswith("Z")  # stored in the mapping's strict format
    for event in stored.values():
        assert problems(event_validator(), event) == [], event


# --- the simulator's records, the tools' queries and COEC -----------------------------------------


@pytest.fixture(scope="module")
def simulated(api_client, engine, pseudonyms) -> dict[str, Any]:
    """A small `make simulate` through the real app. Returns a filter for this run's records: the
    simulated clients' ids repeat from run to run (`make simulate` included), its query ids do not."""
    brands = {"Electronics": ["Sony", "Apple"], "Home & Kitchen": ["IKEA"], "Sports & Outdoors": ["Nike"]}
    run = simulator.Simulator(
        seed=random.randrange(1 << 30),
        users=12,
        days=1,
        events_per_day=400,
        brands_by_department=brands,
        now=dt.datetime.now(dt.UTC),
    )

    def shop(shopper: simulator.ShopperSearch) -> tuple[str, list[simulator.SearchHit]]:
        body = search(
            api_client,
            shopper.query,
            user_id=shopper.user_id,
            session_id=shopper.session_id,
            client_id=shopper.client_id,
            query_id=shopper.query_id,
            application=simulator.APPLICATION,
        )
        hits = [simulator.SearchHit.from_result(r) for r in body["results"]]
        return body["query_id"], hits

    for session in run.run(shop):
        for start in range(0, len(session), 500):
            response = api_client.post("/v1/events", json=session[start : start + 500])
            assert response.status_code == 202, response.text
    assert api_client.app.state.search_service.query_log.flush(timeout_s=60)
    engine.refresh(UBI_QUERIES)
    engine.refresh(UBI_EVENTS)
    clients = sorted({pseudonyms.client(simulator.client_id(user)) for user in run.users})
    return {
        "bool": {
            "filter": [
                {"terms": {"client_id": clients}},
                {"prefix": {"query_id": f"sim-q{run.now:%Y%m%d%H%M%S}-"}},
            ]
        }
    }


def test_every_simulated_record_conforms_and_joins(simulated, engine) -> None:
    mine = simulated
    queries = {h.source["query_id"]: h.source for h in engine.scan(UBI_QUERIES, mine)}
    events = [h.source for h in engine.scan(UBI_EVENTS, mine)]
    assert len(queries) >= 10 and len(events) >= 300
    for record in queries.values():
        assert problems(query_validator(), record) == [], record
    for event in events:
        assert problems(event_validator(strict=True), event) == [], event
        query = queries[event["query_id"]]  # every event joins its query
        assert event["client_id"] == query["client_id"]
        assert event["user_query"] == query["user_query"]
        ordinal = event["event_attributes"]["position"]["ordinal"]
        assert event["event_attributes"]["object"]["object_id"] == query["query_response_hit_ids"][ordinal]


def test_coec_makes_judgments_from_quarrys_logs(simulated, engine) -> None:
    query = coec_events_query(max_rank=20)
    query["bool"]["filter"].append(simulated)
    result = coec_judgments((h.source for h in engine.scan(UBI_EVENTS, query)), max_rank=20)
    assert result.summary.no_user_query == 0 and result.summary.no_ordinal == 0
    assert result.judgments, result.summary
    assert result.rank_ctr[0] > 0  # the first result (ordinal 0) has impressions and clicks
    assert any(float(rating) > 0 for judgment in result.judgments for rating in judgment.ratings.values())


def test_the_ubi_dashboards_queries_run_on_quarrys_indices(simulated, engine) -> None:
    """The aggregations of the UBI plugin's Dashboards objects (ubi-dashboards/ubi_dashboard.ndjson)
    and of the documented example dashboard, run against Quarry's indices."""
    queries = engine.search(
        f"{UBI_QUERIES}*",
        {
            "size": 0,
            "query": simulated,
            "aggs": {
                "over_time": {"date_histogram": {"field": "timestamp", "calendar_interval": "1d"}},
                "top_queries": {"terms": {"field": "user_query"}},
                "top_queries_keyword": {"terms": {"field": "user_query.keyword"}},
                "top_hits": {"terms": {"field": "query_response_hit_ids"}},
                "by_client": {"terms": {"field": "client_id.keyword"}},
                "results": {"avg": {"script": "doc['query_response_hit_ids'].size()"}},
            },
        },
    )
    aggregations = queries.aggregations
    assert aggregations["top_queries"]["buckets"] and aggregations["top_hits"]["buckets"]
    assert aggregations["top_queries"]["buckets"] == aggregations["top_queries_keyword"]["buckets"]
    clients = set(simulated["bool"]["filter"][0]["terms"]["client_id"])
    assert {b["key"] for b in aggregations["by_client"]["buckets"]} <= clients
    assert aggregations["results"]["value"] > 0
    events = engine.search(
        UBI_EVENTS,
        {
            "size": 0,
            "query": {
                "bool": {
                    "filter": [
                        simulated,
                        {"match_phrase": {"action_name": "click"}},
                    ]
                }
            },
            "aggs": {
                "ranks": {"terms": {"field": "event_attributes.position.ordinal"}},
                "mean_rank": {"avg": {"field": "event_attributes.position.ordinal"}},
                "sessions": {"terms": {"field": "event_attributes.session_id.keyword"}},
            },
        },
    )
    assert events.total > 0 and events.aggregations["ranks"]["buckets"]
    assert events.aggregations["mean_rank"]["value"] >= 0 and events.aggregations["sessions"]["buckets"]


# --- replaying old events -------------------------------------------------------------------------


def test_a_replay_stores_old_events_and_reports_bad_ones(engine, tmp_path, pseudonyms) -> None:
    client = f"replay-{uuid.uuid4().hex[:8]}"
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    old = {
        "action_name": "click",
        "client_id": client,
        "timestamp": long_ago.isoformat(),
        "event_attributes": {"object": {"object_id": "P000003"}, "position": {"ordinal": 1}},
    }
    lines = [
        json.dumps(old),
        "{not json",
        json.dumps([{**old, "timestamp": "yesterday"}, {**old, "action_name": "view"}]),
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    run = subprocess.run(
        [sys.executable, "-m", "pipelines", "events-replay", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr  # something was rejected: a script notices
    report = json.loads(run.stdout.splitlines()[-1])
    assert (report["read"], report["stored"], report["duplicates"]) == (4, 2, 0)
    assert sorted((r["line"], r["reason"].split(":")[0]) for r in report["rejected"]) == [
        (2, "not JSON"),
        (3, "timestamp is not ISO 8601 with a time zone or epoch milliseconds"),
    ]
    stored = events_of(engine, "client_id", pseudonyms.client(client))
    assert {e["action_name"] for e in stored} == {"click", "view"}
    index = events_index(long_ago.date())
    assert (
        engine.count(index, {"term": {"client_id": pseudonyms.client(client)}}) == 2
    )  # in the day of their timestamp
    engine.request(
        "POST",
        f"/{index}/_delete_by_query?refresh=true",
        {"query": {"term": {"client_id": pseudonyms.client(client)}}},
    )

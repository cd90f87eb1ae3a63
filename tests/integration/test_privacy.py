"""Privacy (issue 15, part 8) on the real app, OpenSearch, Redis and model store: ids are stored as
pseudonyms, consent is honoured at ingestion, at serving and in training, a user's data is exported,
and an erasure is verified by searching every store afterwards.

Stores are read here with their own clients and the key names docs/privacy.md documents, not with
Quarry's erasure code; pseudonyms are computed from the documented recipe (HMAC-SHA256 of
`user\\x00<id>` under the deployment's key)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from litestar import Litestar
from litestar.testing import TestClient

from pipelines.recommend.train import Interaction, load_interactions, serving_files, to_matrix
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.canary import INDEX as CANARY_INDEX
from quarry.canary import CanaryTraffic
from quarry.privacy import KEY_FILE, Consent, ConsentView, privacy_index
from quarry.privacy_registry import ConsentRefresher, PrivacyRegistry
from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG
from quarry.recommendation_log import RecommendationLog
from quarry.recommenders import ALSRecommender
from quarry.ubi import UBI_EVENTS, UBI_QUERIES, drop_expired_queries, events_index
from tests.conftest import make_event

ALS = "als"


def pseudonym(settings, domain: str, raw: str) -> str:
    key = (Path(settings.var_path) / KEY_FILE).read_bytes().strip()
    return "p1-" + hmac.new(key, f"{domain}\x00{raw}".encode(), hashlib.sha256).hexdigest()[:32]


def toy_fans(users: list[str]) -> list[Interaction]:
    rows = [
        Interaction(f"p1-fan{n}", f"toy{i}", "click", f"2026-11-20T00:{n:02d}:00Z")
        for n in range(20)
        for i in range(6)
    ]
    for user in users:
        rows += [Interaction(user, f"toy{i}", "click", "2026-11-21T00:00:00Z") for i in range(6)]
    return rows


def publish(store: LocalArtifactStore, rows: list[Interaction], seed: int) -> str:
    data = to_matrix(rows)
    model = ALSRecommender(factors=4, iterations=5, seed=seed)
    model.fit(data)
    files = {**model.save(), **serving_files(rows, data, {i: "Toys" for i in data.item_ids})}
    return store.publish(ALS, files, model.metadata())


class Shopper(msgspec.Struct):
    user: str
    session: str
    client: str
    pseudonym: str
    client_pseudonym: str


def shopper(settings, name: str) -> Shopper:
    tag = uuid.uuid4().hex[:10]
    user, client = f"u-{name}-{tag}", f"c-{name}-{tag}"
    return Shopper(
        user,
        f"s-{name}-{tag}",
        client,
        pseudonym(settings, "user", user),
        pseudonym(settings, "client", client),
    )


@pytest.fixture(scope="module")
def people(settings) -> dict[str, Shopper]:
    return {name: shopper(settings, name) for name in ("gone", "kept", "quiet")}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, people) -> tuple[LocalArtifactStore, list[str]]:
    folder = tmp_path_factory.mktemp("privacy-als")
    store = LocalArtifactStore(folder)
    users = [p.pseudonym for p in people.values()]
    versions = [publish(store, toy_fans(users), seed=0), publish(store, toy_fans(users), seed=1)]
    return store, versions


@pytest.fixture(scope="module")
def shop(app_client, demo_catalog, artifacts) -> Iterator[TestClient[Litestar]]:
    store, _ = artifacts
    local = msgspec.structs.replace(
        demo_catalog, artifacts_dir=str(store.root), cache_warm_queries=0, artifact_reload_interval_s=0.0
    )
    with app_client(local) as client:
        yield client


@pytest.fixture(scope="module")
def redis_client(settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


def flush_queries(shop: TestClient[Litestar], engine) -> None:
    assert shop.app.state.search_service.query_log.flush(timeout_s=30)
    engine.refresh(UBI_QUERIES)


def count(engine, index: str, term: dict[str, str]) -> int:
    engine.refresh(index)
    return engine.count(index, {"term": term})


def sources(engine, index: str, term: dict[str, str]) -> list[dict[str, Any]]:
    engine.refresh(index)
    return [h.source for h in engine.scan(index, {"term": term})]


def post_events(shop: TestClient[Litestar], events: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    response = shop.post("/v1/events", json=events, headers=headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def toy_search(shop: TestClient[Litestar], person: Shopper, **extra: Any) -> dict[str, Any]:
    params = {
        "q": "lego",
        "size": 5,
        "user_id": person.user,
        "session_id": person.session,
        "client_id": person.client,
    }
    response = shop.get("/v1/search", params={**params, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- ids at rest ----------------------------------------------------------------------------------


def test_indices_hold_pseudonyms_never_the_ids_sent(shop, engine, people) -> None:
    person = people["kept"]
    body = toy_search(shop, person)
    post_events(shop, [make_event(user_id=person.user, client_id=person.client, session_id=person.session)])
    flush_queries(shop, engine)
    logged = engine.get_document(UBI_QUERIES, body["query_id"])
    [event] = sources(engine, UBI_EVENTS, {"session_id": person.session})
    for record in (logged, event):
        assert record["user_id"] == person.pseudonym and record["client_id"] == person.client_pseudonym
        text = json.dumps(record)  # the stored request (`query`) included
        assert person.user not in text and person.client not in text


# --- consent --------------------------------------------------------------------------------------


def test_an_opt_out_of_tracking_stores_the_event_and_the_search_unlinked(shop, engine, people) -> None:
    person = people["quiet"]
    body = toy_search(shop, person, q="teddy bear")
    sent = make_event(
        user_id=person.user, client_id=person.client, session_id=person.session, query_id="q-quiet"
    )
    accepted = post_events(shop, [sent], **{"Quarry-Consent": "no-tracking"})
    assert accepted == {"accepted": 1, "duplicates": 0, "deidentified": 1}
    stored = engine.get_document(events_index(dt.datetime.now(dt.UTC).date()), sent["event_id"]) or {}
    assert stored["object_id"] == "P000001"  # accepted and stored: it still counts for popularity
    assert not {"user_id", "client_id", "session_id"} & stored.keys()
    assert person.session not in json.dumps(stored)
    untracked = shop.get(
        "/v1/search",
        params={
            "q": "teddy bear",
            "user_id": person.user,
            "session_id": person.session,
            "client_id": person.client,
        },
        headers={"Quarry-Consent": "no-tracking"},
    ).json()
    flush_queries(shop, engine)
    record = engine.get_document(UBI_QUERIES, untracked["query_id"])
    assert record is not None and not {"user_id", "client_id", "session_id"} & record.keys()
    assert person.pseudonym not in record["query"] and person.session not in record["query"]
    assert (
        engine.get_document(UBI_QUERIES, body["query_id"])["user_id"] == person.pseudonym
    )  # before: tracked


def test_a_standing_opt_out_of_personalization_holds_at_serving_and_in_training(
    shop, engine, people, redis_client, settings
) -> None:
    person = people["kept"]
    redis_client.set(f"feature:user:{person.pseudonym}:category_affinity", b'{"Toys": 1.0}', ex=600)
    try:

        def toys_affinity() -> float:
            results = toy_search(shop, person, explain="true")["results"]
            return max(
                r["score_breakdown"]["affinity"]["value"] for r in results if r["category"].startswith("Toys")
            )

        assert toys_affinity() == 1.0
        assert (
            shop.get("/v1/recommendations", params={"user_id": person.user}).json()["strategy"]
            == "collaborative"
        )
        changed = shop.put(
            f"/admin/users/{person.user}/consent", json={"personalization": False, "tracking": True}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["user"] == person.pseudonym and changed.json()["personalization"] is False
        assert toys_affinity() == 0.0
        assert (
            shop.get("/v1/recommendations", params={"user_id": person.user}).json()["strategy"]
            == "popularity"
        )
        post_events(
            shop, [make_event(user_id=person.user, session_id=person.session, action_name="purchase")]
        )
        engine.refresh(UBI_EVENTS)
        registry = PrivacyRegistry(engine, privacy_index(settings.security_indices_prefix))
        now = dt.datetime.now(dt.UTC)
        trained = {row.user for row in load_interactions(engine, 1, now, registry.training_exclusions())}
        assert person.pseudonym not in trained
        assert person.pseudonym in {row.user for row in load_interactions(engine, 1, now)}  # it is stored
    finally:
        shop.put(f"/admin/users/{person.user}/consent", json={"personalization": True, "tracking": True})
        redis_client.delete(f"feature:user:{person.pseudonym}:category_affinity")


def test_another_process_learns_a_consent_within_its_refresh(engine, settings) -> None:
    registry = PrivacyRegistry(engine, privacy_index(settings.security_indices_prefix))
    view = ConsentView()
    refresher = ConsentRefresher(registry, view, interval_s=3600)
    refresher.refresh()
    user = f"p1-refresh-{uuid.uuid4().hex}"
    assert view.of(user).tracking
    registry.set_consent(user, Consent(personalization=True, tracking=False), dt.datetime.now(dt.UTC))
    refresher.refresh()
    assert view.of(user) == Consent(personalization=True, tracking=False)


def test_a_consent_header_quarry_cannot_read_is_a_400(shop) -> None:
    response = shop.get("/v1/search", params={"q": "lego"}, headers={"Quarry-Consent": "no-trackng"})
    assert response.status_code == 400 and "no-trackng" in response.json()["detail"]
    assert response.headers["content-type"].startswith("application/problem+json")
    refused = shop.post("/v1/events", json=[make_event(event_attributes={"consent": {"tracking": "no"}})])
    assert refused.status_code == 422 and "consent" in refused.text


# --- export and erasure ---------------------------------------------------------------------------


def test_export_then_erasure_leaves_nothing_of_the_user_in_any_store(
    shop, engine, people, artifacts, redis_client, settings
) -> None:
    gone, kept = people["gone"], people["kept"]
    store, versions = artifacts
    redis_client.set(f"feature:user:{gone.pseudonym}:category_affinity", b'{"Toys": 1.0}', ex=600)
    redis_client.set(f"feature:user:{kept.pseudonym}:category_affinity", b'{"Books": 1.0}', ex=600)
    toy_search(shop, gone)  # logged, and a personal page in the cache
    mine = make_event(user_id=gone.user, client_id=gone.client, session_id=gone.session, object_id="P000002")
    before_sign_in = make_event(user_id=None, session_id=gone.session, object_id="P000003")
    on_my_device = make_event(user_id=None, session_id=None, client_id=gone.client, object_id="P000004")
    shared_session = make_event(user_id=kept.user, session_id=gone.session, object_id="P000005")
    post_events(shop, [mine, before_sign_in, on_my_device, shared_session])
    recommended = shop.get("/v1/recommendations", params={"user_id": gone.user, "session_id": gone.session})
    assert recommended.status_code == 200, recommended.text
    shop.app.state.recommendation_service.flush_records()
    flush_queries(shop, engine)
    assert count(engine, RECOMMENDATION_LOG, {"user_id": gone.pseudonym}) == 1
    canary_version, canary_traffic = f"v-{uuid.uuid4().hex[:8]}", CanaryTraffic(engine, share=0.5)
    for n, subject in enumerate((gone.pseudonym, gone.session, kept.pseudonym)):
        canary_traffic.record(
            request_id=f"{canary_version}-{n}",
            artifact="als",
            canary_version=canary_version,
            subject=subject,
            variant="champion",
            served_version="v0",
            strategy="collaborative",
            outcome="ok",
            results=5,
            latency_s=0.01,
        )
    canary_traffic.close()
    engine.refresh(CANARY_INDEX)
    assert redis_client.exists(f"session:{gone.session}:recent")
    assert list(redis_client.scan_iter(match=f"search:*:{gone.pseudonym}*"))

    export = shop.get(f"/admin/users/{gone.user}/export")
    assert export.status_code == 200, export.text
    data = export.json()
    assert data["user"] == gone.pseudonym and data["sessions"] == [gone.session]
    assert {e["event_id"] for e in data["events"]} == {
        mine["event_id"],
        before_sign_in["event_id"],
        on_my_device["event_id"],
    }  # the shared session's event names another user: not this one's
    assert [q["user_query"] for q in data["queries"]] == ["lego"]
    assert [r["query_id"] for r in data["recommendations"]] == [recommended.json()["request_id"]]
    assert data["category_affinity"] == {"Toys": 1.0} and gone.session in data["session_products"]
    assert data["model"]["version"] == versions[-1] and len(data["model"]["factors"]) == 4

    erased = shop.delete(f"/admin/users/{gone.user}")
    assert erased.status_code == 200, erased.text
    receipt = erased.json()
    assert receipt["complete"] and receipt["user"] == gone.pseudonym
    removed = {s["store"]: s["removed"] for s in receipt["stores"]}
    assert removed[UBI_EVENTS] == 3 and removed[UBI_QUERIES] == 1 and removed[RECOMMENDATION_LOG] == 1
    assert removed["redis"] >= 3 and removed["artifacts/als"] == 2
    assert removed[CANARY_INDEX] == 2
    engine.refresh(CANARY_INDEX)
    assert [r["request_id"] for r in sources(engine, CANARY_INDEX, {"canary_version": canary_version})] == [
        f"{canary_version}-2"
    ]  # the other shopper's record stays

    # every store, searched afterwards
    assert count(engine, UBI_EVENTS, {"user_id": gone.pseudonym}) == 0
    assert count(engine, UBI_EVENTS, {"client_id": gone.client_pseudonym}) == 0
    assert [e["event_id"] for e in sources(engine, UBI_EVENTS, {"session_id": gone.session})] == [
        shared_session["event_id"]
    ]
    assert count(engine, UBI_QUERIES, {"user_id": gone.pseudonym}) == 0
    assert count(engine, UBI_QUERIES, {"session_id": gone.session}) == 0
    assert count(engine, RECOMMENDATION_LOG, {"session_id": gone.session}) == 0
    leftovers = [
        key
        for pattern in (f"*{gone.pseudonym}*", f"*{gone.session}*", f"*{gone.client_pseudonym}*")
        for key in redis_client.scan_iter(match=pattern)
    ]
    assert leftovers == []
    assert redis_client.exists(f"feature:user:{kept.pseudonym}:category_affinity")
    all_versions = store.versions(ALS)
    assert set(versions) < set(all_versions) and store.current(ALS) not in versions  # republished
    for version in all_versions:
        user_ids = json.loads(store.read(ALS, version, "user_ids.json"))
        history = json.loads(store.read(ALS, version, "history.json"))
        assert gone.pseudonym not in user_ids and gone.pseudonym not in history
        assert kept.pseudonym in user_ids
        assert store.metadata(ALS, version)["erasures"] >= 1
    consent = shop.get(f"/admin/users/{gone.user}/consent").json()
    assert consent["erased_at"] == receipt["erased_at"]
    [entry] = shop.get("/admin/audit", params={"action": "erase user", "target": gone.pseudonym}).json()[
        "entries"
    ]
    assert gone.user not in json.dumps(entry)

    again = shop.delete(f"/admin/users/{gone.user}").json()  # idempotent: nothing left to remove
    # (before the requests below: an answer given after the erasure is new data, recorded anew)
    assert again["complete"] and all(s["removed"] == 0 for s in again["stores"])
    assert shop.get("/v1/recommendations", params={"user_id": gone.user}).json()["strategy"] == "popularity"
    assert (
        shop.get("/v1/recommendations", params={"user_id": kept.user}).json()["strategy"] == "collaborative"
    )

    redis_client.delete(f"feature:user:{kept.pseudonym}:category_affinity")


def test_the_next_training_leaves_out_what_an_erased_user_left_behind(shop, engine, people, settings) -> None:
    """An event the erasure could not see (a late write, a restore from backup) trains nothing."""
    gone = people["gone"]
    late = make_event(user_id=gone.user, session_id=None, client_id=None, action_name="purchase")
    late["timestamp"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    if shop.get(f"/admin/users/{gone.user}/consent").json()["erased_at"] is None:
        shop.delete(f"/admin/users/{gone.user}")
    post_events(shop, [late])
    engine.refresh(UBI_EVENTS)
    registry = PrivacyRegistry(engine, privacy_index(settings.security_indices_prefix))
    now = dt.datetime.now(dt.UTC)
    assert gone.pseudonym in {r.user for r in load_interactions(engine, 1, now)}
    assert gone.pseudonym not in {
        r.user for r in load_interactions(engine, 1, now, registry.training_exclusions())
    }


def test_the_query_log_has_a_retention_too(engine) -> None:
    old, new = f"retention-old-{uuid.uuid4().hex}", f"retention-new-{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC)
    for query_id, age in ((old, 100), (new, 1)):
        record = {
            "query_id": query_id,
            "user_query": "old search",
            "timestamp": (now - dt.timedelta(days=age)).isoformat(),
            "application": "quarry-test",
        }
        engine.request("PUT", f"/{UBI_QUERIES}/_doc/{query_id}?refresh=true", record)
    assert drop_expired_queries(engine, 90, now) >= 1
    engine.refresh(UBI_QUERIES)
    assert engine.get_document(UBI_QUERIES, old) is None and engine.get_document(UBI_QUERIES, new) is not None
    engine.request("DELETE", f"/{UBI_QUERIES}/_doc/{new}?refresh=true")


# --- records stored before pseudonymization -------------------------------------------------------


@pytest.fixture
def old_layout(engine) -> Iterator[tuple[str, str]]:
    """An events index and a query log with the shipped mappings, isolated from the live ones."""
    tag = uuid.uuid4().hex[:8]
    names = (f"test-privacy-events-{tag}", f"test-privacy-queries-{tag}")
    for name, mapping in zip(names, ("ubi_events.json", "ubi_queries.json"), strict=True):
        body = json.loads((Path(__file__).resolve().parents[2] / "mappings" / mapping).read_text())
        engine.create_index(name, {"mappings": body["mappings"]})
    yield names
    for name in names:
        engine.delete_index(name)


def test_records_stored_raw_are_pseudonymized_in_place_once(engine, settings, old_layout) -> None:
    from pipelines.privacy_migrate import migrate
    from quarry.privacy import Pseudonyms, pseudonym_key

    events, queries = old_layout
    user, client = f"u-old-{uuid.uuid4().hex[:6]}", f"c-old-{uuid.uuid4().hex[:6]}"
    done = pseudonym(settings, "user", "u-already")
    request = json.dumps({"q": "lego", "user_id": user, "ubi": {"client_id": client}})
    engine.request(
        "PUT",
        f"/{events}/_doc/e1?refresh=true",
        {"user_id": user, "client_id": client, "action_name": "click"},
    )
    engine.request("PUT", f"/{events}/_doc/e2?refresh=true", {"user_id": done, "action_name": "click"})
    engine.request("PUT", f"/{events}/_doc/e3?refresh=true", {"session_id": "s-only", "action_name": "click"})
    engine.request(
        "PUT", f"/{queries}/_doc/q1?refresh=true", {"user_id": user, "client_id": client, "query": request}
    )
    key = pseudonym_key(settings.pseudonym_key, settings.var_path, create=False)

    reports = {r.index: r for r in migrate(engine, Pseudonyms(key), (events, queries))}

    assert (reports[events].found, reports[events].rewritten) == (1, 1)
    assert (reports[queries].found, reports[queries].rewritten) == (1, 1)
    event, logged = engine.get_document(events, "e1"), engine.get_document(queries, "q1")
    assert event["user_id"] == logged["user_id"] == pseudonym(settings, "user", user)
    assert event["client_id"] == logged["client_id"] == pseudonym(settings, "client", client)
    assert user not in json.dumps(logged) and client not in json.dumps(logged)
    assert json.loads(logged["query"])["q"] == "lego"
    assert engine.get_document(events, "e2")["user_id"] == done  # a pseudonym is not hashed twice
    again = migrate(engine, Pseudonyms(key), (events, queries))
    assert [(r.found, r.rewritten) for r in again] == [(0, 0), (0, 0)]


def test_recommendation_answers_are_kept_as_long_as_logged_searches(engine, settings) -> None:
    from pipelines.jobs import retention

    old, new = f"rec-old-{uuid.uuid4().hex}", f"rec-new-{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC)
    answers = RecommendationLog(engine)
    for request_id, age in ((old, settings.query_log_retention_days + 2), (new, 1)):
        stamp = now - dt.timedelta(days=age)
        answers.record(
            request_id=request_id, user_id=None, session_id=None, items=[], attributes={}, now=stamp
        )
    answers.close()
    engine.refresh(RECOMMENDATION_LOG)
    assert engine.get_document(RECOMMENDATION_LOG, old) is not None

    assert retention(settings)["queries_deleted"] >= 1
    engine.refresh(RECOMMENDATION_LOG)
    assert engine.get_document(RECOMMENDATION_LOG, old) is None
    assert engine.get_document(RECOMMENDATION_LOG, new) is not None

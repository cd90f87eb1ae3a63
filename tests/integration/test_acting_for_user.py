"""Acting for a user (issue 15, part 3) on the real app, key store, Redis and UBI indices: a
frontend's key personalizes and attributes events only with a user token its shop's backend signed;
forged, expired and other users' tokens are refused; a backend's key (`server`) may name any user.

Tokens are signed here by hand from the documented format (docs/security.md#acting-for-a-user), the
way a shop's backend in another language would, not with Quarry's own signer."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.api_keys import ApiKeys, temporary_key
from quarry.settings import PROJECT_ROOT, as_env
from quarry.ubi import UBI_EVENTS
from tests.conftest import make_event
from tests.integration.test_recommendations import publish

FRONTEND_SCOPES = ("search", "recommend", "events")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(secret: str, user_id: str, expires_at: float) -> str:
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    head = f"v1.{b64(user_id.encode())}.{int(expires_at)}"
    return f"{head}.{b64(hmac.new(key, head.encode(), hashlib.sha256).digest())}"


def in_an_hour() -> float:
    return time.time() + 3600


@pytest.fixture(scope="module")
def shop(app_client, demo_catalog, tmp_path_factory, pseudonyms) -> Iterator[TestClient[Litestar]]:
    """The app over the test catalog, with a toy ALS model in which t1 is a known toy fan
    (collaborative recommendations)."""
    folder = tmp_path_factory.mktemp("als")
    publish(LocalArtifactStore(folder), user=pseudonyms.user)  # as training stores them
    local = msgspec.structs.replace(demo_catalog, artifacts_dir=str(folder), cache_warm_queries=0)
    with app_client(local) as client:
        yield client


@pytest.fixture
def frontend(api_keys: ApiKeys) -> Iterator[str]:
    """A storefront's key: public, no `server` scope."""
    with temporary_key(api_keys, "test storefront", FRONTEND_SCOPES) as token:
        yield token


def key_id(token: str) -> str:
    return token.partition(".")[0]


def user_secret(shop: TestClient[Litestar], token: str) -> str:
    """What the shop's backend fetches once, with an admin key (the session's key has every scope)."""
    response = shop.get(f"/admin/keys/{key_id(token)}/user-token-secret")
    assert response.status_code == 200, response.text
    secret: str = response.json()["secret"]
    return secret


def as_frontend(token: str, user_token: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if user_token is not None:
        headers["X-User-Token"] = user_token
    return headers


def recommend(shop: TestClient[Litestar], headers: dict[str, str], user_id: str = "t1") -> Any:
    return shop.get("/v1/recommendations", params={"user_id": user_id, "k": 5}, headers=headers)


def test_a_frontend_keys_user_id_is_ignored_and_says_so(shop, frontend) -> None:
    served = recommend(shop, {})  # the session's key holds `server`: a backend may name any user
    assert served.json()["strategy"] == "collaborative" and "quarry-user-id" not in served.headers
    ignored = recommend(shop, as_frontend(frontend))
    assert ignored.status_code == 200
    assert ignored.headers["quarry-user-id"] == "ignored"
    assert ignored.json()["strategy"] == "popularity" and ignored.json().get("user_id") is None
    search = shop.get("/v1/search", params={"q": "sofa", "user_id": "t1"}, headers=as_frontend(frontend))
    assert search.status_code == 200 and search.headers["quarry-user-id"] == "ignored"


def test_a_token_signed_by_the_backend_personalizes(shop, frontend) -> None:
    token = signed(user_secret(shop, frontend), "t1", in_an_hour())
    response = recommend(shop, as_frontend(frontend, token))
    assert response.status_code == 200, response.text
    assert response.json()["strategy"] == "collaborative" and response.json()["user_id"] == "t1"
    assert "quarry-user-id" not in response.headers


def test_a_search_with_a_token_and_no_user_id_is_the_tokens_users(shop, frontend, engine, pseudonyms) -> None:
    token = signed(user_secret(shop, frontend), "t1", in_an_hour())
    body = shop.get("/v1/search", params={"q": "teddy bear"}, headers=as_frontend(frontend, token)).json()
    anonymous = shop.get(
        "/v1/search", params={"q": "teddy bear", "user_id": "t1"}, headers=as_frontend(frontend)
    )
    shop.app.state.search_service.query_log.flush()
    engine.refresh("ubi_queries")
    assert engine.get_document("ubi_queries", body["query_id"])["user_id"] == pseudonyms.user("t1")
    assert "user_id" not in engine.get_document("ubi_queries", anonymous.json()["query_id"])


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda secret: signed(b64(b"another shop's secret 1234"), "t1", in_an_hour()), id="forged"
        ),
        pytest.param(lambda secret: signed(secret, "t1", time.time() - 1), id="expired"),
        pytest.param(lambda secret: signed(secret, "t1", in_an_hour())[:-2] + "AA", id="tampered-signature"),
        pytest.param(
            lambda secret: signed(secret, "t1", in_an_hour()).replace(b64(b"t1"), b64(b"b20")),
            id="other-user",
        ),
        pytest.param(lambda secret: "v1.not-a-token", id="malformed"),
    ],
)
def test_a_bad_token_is_a_401_not_ignored(shop, frontend, make_token) -> None:
    token = make_token(user_secret(shop, frontend))
    response = recommend(shop, as_frontend(frontend, token))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "X-User-Token" in response.json()["detail"]


def test_a_token_for_one_user_cannot_name_another(shop, frontend) -> None:
    token = signed(user_secret(shop, frontend), "t1", in_an_hour())
    response = recommend(shop, as_frontend(frontend, token), user_id="b20")
    assert response.status_code == 403 and "not the user" in response.json()["detail"]


def test_one_keys_secret_does_not_sign_for_another_key(shop, frontend, api_keys) -> None:
    with temporary_key(api_keys, "test other storefront", FRONTEND_SCOPES) as other:
        token = signed(user_secret(shop, other), "t1", in_an_hour())
        assert recommend(shop, as_frontend(frontend, token)).status_code == 401
        assert recommend(shop, as_frontend(other, token)).status_code == 200


def stored_event(engine, event_id: str) -> dict[str, Any]:
    engine.refresh(UBI_EVENTS)
    found = engine.search(UBI_EVENTS, {"query": {"term": {"event_id": event_id}}}).hits
    assert len(found) == 1, found
    return found[0].source


def test_events_are_the_sessions_without_a_token_and_the_users_with_one(
    shop, frontend, engine, pseudonyms
) -> None:
    anonymous = make_event(user_id="t1", session_id="s-acting")
    assert shop.post("/v1/events", json=[anonymous], headers=as_frontend(frontend)).status_code == 202
    document = stored_event(engine, anonymous["event_id"])
    assert "user_id" not in document and document["session_id"] == "s-acting"

    token = signed(user_secret(shop, frontend), "t1", in_an_hour())
    attributed = make_event(user_id="t1")
    assert shop.post("/v1/events", json=[attributed], headers=as_frontend(frontend, token)).status_code == 202
    assert stored_event(engine, attributed["event_id"])["user_id"] == pseudonyms.user("t1")


def test_events_that_only_a_user_id_identifies_or_that_name_another_user_are_refused(shop, frontend) -> None:
    only_user = make_event(user_id="t1", session_id=None)
    response = shop.post("/v1/events", json=[only_user], headers=as_frontend(frontend))
    assert response.status_code == 422 and "server scope" in response.json()["errors"][0]["reason"]

    token = signed(user_secret(shop, frontend), "t1", in_an_hour())
    response = shop.post("/v1/events", json=[make_event(user_id="b20")], headers=as_frontend(frontend, token))
    assert response.status_code == 422 and "not the user" in response.json()["errors"][0]["reason"]


def test_rotation_keeps_old_tokens_for_the_grace_period_only(shop, api_keys) -> None:
    with temporary_key(api_keys, "test rotating storefront", FRONTEND_SCOPES) as old:
        old_signed = signed(user_secret(shop, old), "t1", in_an_hour())
        graced = api_keys.rotate(key_id(old), dt.timedelta(hours=1)).token
        new_signed = signed(user_secret(shop, graced), "t1", in_an_hour())
        assert new_signed != old_signed
        shop.app.state.api_keys.verify(graced)  # this worker sees the rotation now, not in 10 s
        assert recommend(shop, as_frontend(graced, old_signed)).status_code == 200
        assert recommend(shop, as_frontend(graced, new_signed)).status_code == 200

        ended = api_keys.rotate(key_id(old), dt.timedelta(0)).token
        shop.app.state.api_keys.verify(ended)
        assert recommend(shop, as_frontend(ended, new_signed)).status_code == 401


def test_the_cli_hands_out_the_same_secret_and_signs_tokens_the_api_accepts(shop, frontend, settings) -> None:
    env = {**os.environ, **as_env(settings)}

    def keys(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines", "keys", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    assert keys("user-secret", key_id(frontend))["secret"] == user_secret(shop, frontend)
    minted = keys("user-token", key_id(frontend), f"u-{uuid.uuid4().hex[:6]}")
    assert minted["header"] == "X-User-Token"
    assert recommend(shop, as_frontend(frontend, minted["token"]), user_id="t1").status_code == 403
    assert (
        shop.get(
            "/v1/search", params={"q": "sofa"}, headers=as_frontend(frontend, minted["token"])
        ).status_code
        == 200
    )

"""Authentication on the real app with the real key store (issue 15, parts 1 and 2): every route but
the health checks wants a key, each route its scope, keys with fixed filters cannot widen them, and
the admin API manages keys over HTTP."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from quarry.adapters.search_engine import OpenSearchEngine
from quarry.api_keys import SCOPES, ApiKeys, OpenSearchKeyStore, temporary_key

# A value for each path parameter the routes have, so every route can be called.
PATH_VALUES = {
    "product_id": "P000001",
    "key_id": "qk_000000000000",
    "entry_id": "acl_000000000000",
    "path": "openapi.json",
    "user_id": "u-auth-nobody",
    "file_path": "storefront.css",
    "name": "no-such-experiment",
}
# The scope each route needs; a route missing here fails the test, so a new route gets a decision.
ROUTE_SCOPES = {
    ("/v1/search", "GET"): "search",
    ("/v1/suggest", "GET"): "search",
    ("/v1/products/{product_id}", "GET"): "search",
    ("/v1/recommendations", "GET"): "recommend",
    ("/v1/events", "POST"): "events",
    ("/ubi_events", "POST"): "events",
    ("/metrics", "GET"): "metrics",
    ("/admin/keys", "GET"): "admin",
    ("/admin/keys", "POST"): "admin",
    ("/admin/keys/{key_id}", "GET"): "admin",
    ("/admin/keys/{key_id}", "DELETE"): "admin",
    ("/admin/keys/{key_id}/rotate", "POST"): "admin",
    ("/admin/keys/{key_id}/user-token-secret", "GET"): "admin",
    ("/admin/access", "GET"): "admin",
    ("/admin/access", "POST"): "admin",
    ("/admin/access/{entry_id}", "DELETE"): "admin",
    ("/admin/audit", "GET"): "admin",
    ("/admin/experiments", "GET"): "admin",
    ("/admin/experiments/{name}", "PUT"): "admin",
    ("/admin/experiments/{name}", "DELETE"): "admin",
    ("/admin/experiments/{name}/history", "GET"): "admin",
    ("/admin/users/{user_id}", "DELETE"): "admin",
    ("/admin/users/{user_id}/export", "GET"): "admin",
    ("/admin/users/{user_id}/consent", "GET"): "admin",
    ("/admin/users/{user_id}/consent", "PUT"): "admin",
    ("/ui", "GET"): "search",
    ("/ui/search", "GET"): "search",
    ("/ui/products/{product_id}", "GET"): "search",
    ("/ui/workbench", "GET"): "debug",
    ("/ui/workbench/losses", "GET"): "debug",
    ("/ui/experiments", "GET"): "debug",
    ("/ui/experiments/{name}", "GET"): "debug",
}
PUBLIC = {
    ("/health/live", "GET"),
    ("/health/ready", "GET"),
    ("/ui/static/{file_path}", "GET"),
    ("/ui/console/login", "GET"),
    ("/ui/console/login", "POST"),
    ("/ui/console/logout", "POST"),
}
CONSOLE = {route for route, scope in ROUTE_SCOPES.items() if route[0].startswith("/ui") and scope == "debug"}
"""Pages a browser opens: without a key they send it to the console's login page."""
STOREFRONT = {
    route for route, scope in ROUTE_SCOPES.items() if route[0].startswith("/ui") and scope == "search"
}
"""Pages a browser opens without a key: they act with the storefront's key (tests/integration/
test_storefront.py), or answer 503 where none is configured; a key the request does present rules."""


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and re.fullmatch(r"[0-9a-f]{32}", body["trace_id"]), body
    return body


def routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            found.append((route.path_format, method))
    return sorted(found)


def call(client: TestClient[Litestar], path: str, method: str, headers: dict[str, str]) -> Any:
    url = path.format(**PATH_VALUES)
    return client.request(method, url, headers=headers, json={} if method == "POST" else None)


@pytest.fixture(scope="module")
def bare(app_client, demo_catalog) -> Iterator[TestClient[Litestar]]:
    """The real app over the demo catalog, without the session's key on every request."""
    with app_client(msgspec.structs.replace(demo_catalog, cache_warm_queries=0)) as client:
        client.headers.pop("Authorization")
        yield client


@pytest.fixture(scope="module")
def scoped(api_keys: ApiKeys) -> Iterator[dict[str, str]]:
    """A token per scope, each holding that scope alone."""
    with ExitStack() as stack:
        yield {
            scope: stack.enter_context(temporary_key(api_keys, f"test {scope}", (scope,))) for scope in SCOPES
        }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_is_listed_with_its_scope(api_client) -> None:
    served = set(routes(api_client.app)) - {
        (p, m) for p, m in routes(api_client.app) if p.startswith("/schema")
    }
    assert served == set(ROUTE_SCOPES) | PUBLIC


def test_every_route_but_health_wants_a_key(bare) -> None:
    for path, method in routes(bare.app):
        response = call(bare, path, method, {})
        if (path, method) in STOREFRONT:
            assert response.status_code in (200, 503), (path, response.text)
            continue
        if (path, method) in CONSOLE:
            assert response.url.path == "/ui/console/login" and response.status_code == 200, path
            continue
        if (path, method) == ("/ui/console/login", "POST"):
            assert response.status_code == 401 and "Console login" in response.text  # no key: the form again
            continue
        if (path, method) in PUBLIC:
            assert response.status_code in (200, 503), (path, response.text)
            continue
        body = problem(response, 401)
        assert "API key is required" in body["detail"], (path, method)
        assert response.headers["www-authenticate"].startswith("Bearer"), (path, method)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer qk_000000000000.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"X-API-Key": "qk_000000000000.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_an_unknown_or_malformed_key_is_a_401(bare, headers) -> None:
    problem(bare.get("/v1/search", params={"q": "sofa"}, headers=headers), 401)


def test_a_key_without_the_routes_scope_is_a_403_on_every_route(bare, scoped) -> None:
    for (path, method), needed in ROUTE_SCOPES.items():
        other = "metrics" if needed != "metrics" else "search"
        body = problem(call(bare, path, method, bearer(scoped[other])), 403)
        assert needed in body["detail"], (path, method, body)


def test_a_key_with_the_routes_scope_gets_past_authentication(bare, scoped) -> None:
    for (path, method), needed in ROUTE_SCOPES.items():
        response = call(bare, path, method, bearer(scoped[needed]))
        assert response.status_code not in (401, 403), (path, method, response.text)


def test_both_headers_carry_a_key(bare, scoped) -> None:
    token = scoped["search"]
    assert bare.get("/v1/search", params={"q": "sofa"}, headers={"X-API-Key": token}).status_code == 200
    assert (
        bare.get("/v1/search", params={"q": "sofa"}, headers={"authorization": f"bearer {token}"}).status_code
        == 200
    )


def test_explain_needs_the_debug_scope(bare, scoped, api_keys) -> None:
    params = {"q": "sofa", "explain": "true"}
    assert (
        "debug"
        in problem(bare.get("/v1/search", params=params, headers=bearer(scoped["search"])), 403)["detail"]
    )
    with temporary_key(api_keys, "test debug", ("search", "debug")) as token:
        response = bare.get("/v1/search", params=params, headers=bearer(token))
    assert response.status_code == 200 and response.json()["results"][0]["score_breakdown"]


def test_a_revoked_key_stops_at_once_on_the_worker_that_revoked_it(bare, api_keys, scoped) -> None:
    admin = bearer(scoped["admin"])
    issued = bare.post("/admin/keys", json={"owner": "test revoke", "scopes": ["search"]}, headers=admin)
    assert issued.status_code == 201, issued.text
    token, key_id = issued.json()["token"], issued.json()["key"]["key_id"]
    assert bare.get("/v1/search", params={"q": "sofa"}, headers=bearer(token)).status_code == 200
    revoked = bare.delete(f"/admin/keys/{key_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    problem(bare.get("/v1/search", params={"q": "sofa"}, headers=bearer(token)), 401)


def test_the_admin_api_issues_lists_rotates_and_refuses_bad_requests(bare, scoped, api_keys) -> None:
    admin = bearer(scoped["admin"])
    owner = f"partner-{uuid.uuid4().hex[:6]}"
    created = bare.post(
        "/admin/keys",
        json={
            "owner": owner,
            "scopes": ["search"],
            "description": "partner feed",
            "expires_in_days": 30,
            "filters": {"in_stock": True},
            "search_per_minute": 300,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert "secret_sha256" not in created.text and key["filters"] == {"in_stock": True}
    expires = dt.datetime.fromisoformat(key["expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    listed = bare.get("/admin/keys", headers=admin).json()["keys"]
    assert [k["owner"] for k in listed if k["key_id"] == key["key_id"]] == [owner]
    assert "secret_sha256" not in str(listed)
    assert bare.get(f"/admin/keys/{key['key_id']}", headers=admin).json()["owner"] == owner

    old = created.json()["token"]
    rotated = bare.post(f"/admin/keys/{key['key_id']}/rotate", json={"grace_hours": 1}, headers=admin)
    assert rotated.status_code == 200 and rotated.json()["token"] != old
    for token in (old, rotated.json()["token"]):  # both work during the grace period
        assert bare.get("/v1/search", params={"q": "sofa"}, headers=bearer(token)).status_code == 200
    api_keys.revoke(key["key_id"])

    bad = [
        ({"owner": "x", "scopes": ["search"], "filters": {"colour": ["red"]}}, "unknown filter"),
        ({"owner": "x", "scopes": ["shopping"]}, "scopes"),
        ({"owner": "x", "scopes": []}, "scopes"),
        ({"owner": "x", "scopes": ["recommend"], "filters": {"brand": ["Acme"]}}, "recommend"),
        ({"owner": "x", "scopes": ["search"], "expires_in_days": 0}, "expires_in_days"),
    ]
    for body, reason in bad:
        response = bare.post("/admin/keys", json=body, headers=admin)
        assert reason in str(problem(response, 400)), (body, response.text)
    problem(bare.get("/admin/keys/qk_ffffffffffff", headers=admin), 404)
    problem(bare.delete("/admin/keys/qk_ffffffffffff", headers=admin), 404)
    problem(bare.get("/admin/keys/not-an-id", headers=admin), 400)


def brands(client: TestClient[Litestar], headers: dict[str, str], **params: Any) -> set[str]:
    response = client.get("/v1/search", params={"q": "shirt", "size": 50, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return {r["brand"] for r in response.json()["results"]}


def test_a_keys_fixed_filters_apply_and_cannot_be_widened(bare, api_client, api_keys) -> None:
    everyone = brands(api_client, {})
    assert len(everyone) >= 3, everyone
    partner, other = sorted(everyone)[:2]
    issued = api_keys.create("test partner", ("search",), filters={"brand": [partner], "in_stock": True})
    headers = bearer(issued.token)
    try:
        assert brands(bare, headers) == {partner}
        assert brands(bare, headers, brand=other) == set()  # asking for another brand finds nothing
        assert brands(bare, headers, in_stock="false") == set()  # nor does asking for what is out of stock
        results = bare.get("/v1/search", params={"q": "shirt", "size": 50}, headers=headers).json()["results"]
        assert all(r["in_stock"] for r in results)
        # A product page obeys the same filters: another brand's product is not there.
        outside = next(
            r["product_id"]
            for r in api_client.get("/v1/search", params={"q": "shirt", "brand": other}).json()["results"]
        )
        problem(bare.get(f"/v1/products/{outside}", headers=headers), 404)
        assert api_client.get(f"/v1/products/{outside}").status_code == 200
        inside = results[0]["product_id"]
        assert bare.get(f"/v1/products/{inside}", headers=headers).json()["brand"] == partner
        # Suggestions come from every product: a key with filters cannot use them.
        assert (
            "fixed filters"
            in problem(bare.get("/v1/suggest", params={"q": "sh"}, headers=headers), 403)["detail"]
        )
    finally:
        api_keys.revoke(issued.key.key_id)


def test_the_openapi_document_declares_the_security_schemes(api_client) -> None:
    document = api_client.get("/schema/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-API-Key")
    assert {"bearer": []} in document["security"] and {"apiKey": []} in document["security"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/health"):
                assert operation["security"] == [{}], (path, method)
            else:
                assert {"401", "403"} <= set(operation["responses"]), (path, method)


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_auth_off_lets_anyone_in_and_says_so(app_client, demo_catalog) -> None:
    settings = msgspec.structs.replace(demo_catalog, auth="off", cache_warm_queries=0)
    recorded = Recorded()
    logging.getLogger("api").addHandler(recorded)
    try:
        with app_client(settings) as client:
            client.headers.pop("Authorization")
            assert client.get("/v1/search", params={"q": "sofa", "explain": "true"}).status_code == 200
            assert client.get("/metrics").status_code == 200
    finally:
        logging.getLogger("api").removeHandler(recorded)
        # Not the admin API: keys issued while anyone may call would outlive the experiment.
        assert problem(client.get("/admin/keys"), 403)
    warnings = [r for r in recorded.records if "QUARRY_AUTH=off" in r.getMessage()]
    assert warnings and warnings[0].levelno == logging.WARNING


def test_made_up_keys_are_limited_per_address_before_the_store_is_read(bare) -> None:
    """Each key a worker has not seen costs a store read: 60 a minute per address, then 429s."""
    codes = []
    for _ in range(70):
        made_up = f"qk_{uuid.uuid4().hex[:12]}.{uuid.uuid4().hex}"
        codes.append(bare.get("/v1/search", params={"q": "sofa"}, headers={"X-API-Key": made_up}).status_code)
    refused = codes.index(429)  # earlier tests of this module read keys from the same address too
    assert 0 < refused <= 60 and set(codes[:refused]) == {401} and set(codes[refused:]) == {429}, codes


def test_a_key_store_outage_is_a_503_never_a_401(demo_catalog, auth_headers) -> None:
    from api.app import create_app

    unreachable = ApiKeys(OpenSearchKeyStore(OpenSearchEngine("http://127.0.0.1:1", 1.0)))
    quiet = msgspec.structs.replace(demo_catalog, cache_warm_queries=0, rate_limits=False)
    with TestClient(create_app(quiet, keys=unreachable)) as client:
        body = problem(client.get("/v1/search", params={"q": "sofa"}, headers=auth_headers), 503)
        assert body["title"] == "Authentication unavailable"
        problem(client.get("/v1/search", params={"q": "sofa"}), 401)  # no key at all needs no store

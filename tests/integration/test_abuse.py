"""Abuse protection (issue 15, part 5) on real API processes, Redis and the key, access-list and
audit indices: the same query over and over, product-page enumeration, allow and deny lists, and the
metric, log line and audit entry every block leaves. Clients are told apart by the address a trusted
proxy (the test) names in X-Forwarded-For."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from quarry.access_lists import RELOAD_S
from quarry.api_keys import ApiKeys, temporary_key
from tests.conftest import running_api

REDIS_DB = 13  # this module's own database: its windows start empty on every run
MINUTE_S = 6.0
SAME_QUERY = 3
RUN = 5
COOLDOWN_S = 4


def common_env(settings: Any, demo_catalog: Any) -> dict[str, str]:
    url = settings.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return {
        "QUARRY_REDIS_URL": url,
        "QUARRY_PRODUCTS_ALIAS": demo_catalog.products_alias,
        "QUARRY_ARTIFACTS_DIR": demo_catalog.artifacts_dir,
        "QUARRY_RATE_LIMIT_MINUTE_S": str(MINUTE_S),
        "QUARRY_ABUSE_SAME_QUERY_PER_MINUTE": str(SAME_QUERY),
        "QUARRY_ABUSE_ENUMERATION_RUN": str(RUN),
        "QUARRY_ABUSE_ENUMERATION_COOLDOWN_S": str(COOLDOWN_S),
        "QUARRY_TRUSTED_PROXIES": "127.0.0.1",
        "QUARRY_API_WORKERS": "2",
        "QUARRY_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def api(settings, demo_catalog) -> Iterator[str]:
    with running_api(**common_env(settings, demo_catalog)) as (base, _, _):
        yield base


@pytest.fixture(scope="module")
def shopper_key(api_keys: ApiKeys) -> Iterator[str]:
    with temporary_key(api_keys, "test storefront", ("search",)) as token:
        yield token


def address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 256}.{n // 256 % 256}.{n // 65536 % 256}"


def get(base: str, path: str, token: str, client: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": client}
    return httpx.get(f"{base}{path}", params=params, headers=headers, timeout=30)


def product(base: str, token: str, client: str, number: int) -> httpx.Response:
    return get(base, f"/v1/products/P{number:06d}", token, client)


def audited(base: str, admin: str, action: str, target: str) -> list[dict[str, Any]]:
    """The audit entries for `target`, once there are any (blocks are audited by a thread of their
    own, a moment after the refusal); [] when none came within 10 s."""
    deadline = time.monotonic() + 10
    while True:
        response = get(base, "/admin/audit", admin, "127.0.0.1", action=action, target=target)
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["entries"]
        if entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


def test_the_same_query_more_than_the_limit_a_minute_is_throttled(api, shopper_key, api_token) -> None:
    client = address()
    typed = ["tent", "Tent", "  tent ", "TENT"]  # one query, however it is cased and spaced
    codes = [get(api, "/v1/search", shopper_key, client, q=q).status_code for q in typed]
    assert codes == [200] * SAME_QUERY + [429]
    refused = get(api, "/v1/search", shopper_key, client, q="tent")
    assert refused.status_code == 429 and "same search" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= MINUTE_S
    assert get(api, "/v1/search", shopper_key, client, q="sofa").status_code == 200  # other queries pass
    assert get(api, "/v1/search", shopper_key, address(), q="tent").status_code == 200  # other shoppers too
    # A backend searches for many shoppers from one address: the same query is no sign of abuse.
    assert [get(api, "/v1/search", api_token, client, q="tent").status_code for _ in range(6)] == [200] * 6
    assert audited(api, api_token, "block:repeated_query", client)


@pytest.mark.parametrize(
    "numbers",
    [
        pytest.param([100, 101, 102, 103, 104], id="sequential"),
        pytest.param([204, 201, 203, 200, 202], id="shuffled-within-a-range"),
        pytest.param([300, 302, 305, 307, 309], id="near-sequential"),
        pytest.param([1000, 1250, 1500, 1750, 2000], id="constant-stride"),
    ],
)
def test_product_enumeration_is_blocked_for_a_cool_down(api, shopper_key, api_token, numbers) -> None:
    client = address()
    codes = [product(api, shopper_key, client, n).status_code for n in numbers]
    assert codes == [200] * (RUN - 1) + [429]
    blocked = product(api, shopper_key, client, 7777)  # any product page, for the cool-down
    assert blocked.status_code == 429 and "in sequence" in blocked.json()["detail"]
    assert 1 <= int(blocked.headers["retry-after"]) <= COOLDOWN_S
    assert product(api, shopper_key, address(), 7777).status_code == 200  # another client
    assert get(api, "/v1/search", shopper_key, client, q="lamp").status_code == 200  # search still works
    time.sleep(COOLDOWN_S + 0.5)
    assert product(api, shopper_key, client, 7777).status_code == 200
    [entry] = audited(api, api_token, "block:enumeration", client)
    assert entry["actor"] == "quarry" and entry["client"] == client


def test_browsing_products_is_not_enumeration(api, shopper_key) -> None:
    client = address()
    pages = random.Random(7).sample(range(1, 20_000), 30)
    assert {product(api, shopper_key, client, n).status_code for n in pages} == {200}


def test_a_backends_product_pages_are_not_watched(api, api_token) -> None:
    client = address()
    assert {product(api, api_token, client, n).status_code for n in range(500, 512)} == {200}


def admin_post(base: str, admin: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base}/admin/access", json=body, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    )


def admin_delete(base: str, admin: str, entry_id: str) -> httpx.Response:
    return httpx.delete(
        f"{base}/admin/access/{entry_id}", headers={"Authorization": f"Bearer {admin}"}, timeout=30
    )


def until(condition: Any, timeout_s: float = 8.0) -> bool:
    """Entries reach every worker within 5 s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def every_worker(call: Any, status: int) -> bool:
    """Eight answers in a row (each on a new connection, so both workers usually answer some) have
    `status`. Usually, not surely: the kernel may hand all eight to one worker, so a test that needs
    every worker to have a change also waits out the reload period (`reloaded_everywhere`)."""
    return all(call().status_code == status for _ in range(8))


def reloaded_everywhere(changed_at: float) -> None:
    """Wait until every worker's reload thread has run once after a change made at `changed_at`
    (monotonic): the documented bound, RELOAD_S, plus room for a reload slowed by a busy machine."""
    time.sleep(max(0.0, changed_at + RELOAD_S + 2.0 - time.monotonic()))


def blocks(base: str, token: str, reason: str) -> float:
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name == "quarry_abuse_blocks":
            return sum(
                s.value
                for s in family.samples
                if s.labels.get("reason") == reason and s.name.endswith("_total")
            )
    return 0.0


def test_a_denied_network_gets_403_everywhere_but_health_and_every_block_is_recorded(
    settings, demo_catalog, shopper_key, api_token
) -> None:
    with running_api(**common_env(settings, demo_catalog)) as (base, output, _):
        added = admin_post(
            base,
            api_token,
            {"list": "deny", "network": "198.51.100.0/24", "reason": "test scraper", "expires_in_hours": 1},
        )
        assert added.status_code == 201, added.text
        entry = added.json()
        added_at = time.monotonic()
        try:
            denied = "198.51.100.77"
            assert until(lambda: every_worker(lambda: product(base, shopper_key, denied, 1), 403))
            reloaded_everywhere(added_at)
            for path in ("/v1/search", "/v1/products/P000001", "/v1/suggest"):
                response = get(base, path, shopper_key, denied, q="so")
                assert response.status_code == 403, path
                assert "denied" in response.json()["detail"] and response.json()["trace_id"]
            assert (
                get(base, "/v1/search", "qk_000000000000.made-up", denied, q="x").status_code == 403
            )  # before the key
            assert get(base, "/health/live", shopper_key, denied).status_code == 200
            mapped = "::ffff:198.51.100.78"  # an IPv4 client of a dual-stack listener
            assert get(base, "/v1/search", shopper_key, mapped, q="sofa").status_code == 403
            assert get(base, "/v1/search", shopper_key, "198.51.101.1", q="sofa").status_code == 200
            assert blocks(base, api_token, "denied") >= 5
            assert audited(base, api_token, "deny network", "198.51.100.0/24")[0]["detail"].endswith(
                "test scraper"
            )
            assert audited(base, api_token, "block:denied", denied)
        finally:
            assert admin_delete(base, api_token, entry["entry_id"]).status_code == 200
        assert until(lambda: every_worker(lambda: product(base, shopper_key, denied, 1), 200))
        assert admin_delete(base, api_token, entry["entry_id"]).status_code == 404
    lines = [json.loads(line) for line in output if line.startswith("{")]
    assert any(
        line.get("event") == "request blocked"
        and line.get("reason") == "denied"
        and line.get("client") == denied
        for line in lines
    )


def test_an_allowed_network_skips_address_limits_and_abuse_checks(api, shopper_key, api_token) -> None:
    added = admin_post(
        api,
        api_token,
        {"list": "allow", "network": "192.0.2.0/28", "reason": "office", "expires_in_hours": 1},
    )
    assert added.status_code == 201, added.text
    try:
        office = "192.0.2.5"
        # Past the repeated-query limit on new connections: a worker that has not loaded the entry yet
        # refuses (the window is shared), so a long enough run of 200s means both workers have it
        # before the product pages below, which a worker without it would count as enumeration.
        repeats = SAME_QUERY + 10
        assert until(
            lambda: (
                [get(api, "/v1/search", shopper_key, office, q="desk").status_code for _ in range(repeats)]
                == [200] * repeats
            )
        )
        assert {product(api, shopper_key, office, n).status_code for n in range(600, 610)} == {200}
    finally:
        admin_delete(api, api_token, added.json()["entry_id"])


@pytest.mark.parametrize("network", ["10.0.0.1/8", "not-an-address", "300.1.1.1"])
def test_a_bad_network_is_a_400(api, api_token, network) -> None:
    response = admin_post(api, api_token, {"list": "deny", "network": network, "reason": "typo"})
    assert response.status_code == 400 and "network" in response.json()["detail"]

"""Rate limits as deployed (issue 15, part 4): `python -m api` processes with two workers each on the
real Redis, a key's limit exact across all of them, `Retry-After` that holds, X-Forwarded-For
believed only from trusted proxies; and per-process limits while Redis is down."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import msgspec
import pytest
import redis

from quarry.api_keys import ApiKeys, temporary_key
from tests.conftest import running_api

REDIS_DB = 12  # this module's own database: its windows start empty on every run
MINUTE_S = 6.0  # a rate-limit "minute" of 6 s, so a test can wait for a window to pass


@pytest.fixture(scope="module")
def apis(settings, demo_catalog) -> Iterator[dict[str, str]]:
    url = settings.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    common = {
        "QUARRY_REDIS_URL": url,
        "QUARRY_PRODUCTS_ALIAS": demo_catalog.products_alias,
        "QUARRY_ARTIFACTS_DIR": demo_catalog.artifacts_dir,
        "QUARRY_RATE_LIMIT_MINUTE_S": str(MINUTE_S),
        "QUARRY_RATE_LIMIT_IP_SEARCH_PER_MINUTE": "3",
        "QUARRY_RATE_LIMIT_IP_SEARCH_BURST": "3",
        "QUARRY_LOG_LEVEL": "WARNING",
    }
    with ExitStack() as stack:
        bases = {}
        for name, workers, trusted in (
            ("a", "2", "127.0.0.1"),
            ("b", "2", "127.0.0.0/8"),
            ("untrusting", "1", ""),
        ):
            base, _, _ = stack.enter_context(
                running_api(**common, QUARRY_API_WORKERS=workers, QUARRY_TRUSTED_PROXIES=trusted)
            )
            bases[name] = base
        yield bases


def search(base: str, token: str, client_address: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if client_address:
        headers["X-Forwarded-For"] = client_address
    # A new connection each time, so the two workers of a process both take requests.
    return httpx.get(f"{base}/v1/search", params={"q": "tent", "size": 5}, headers=headers, timeout=30)


def address() -> str:
    """A client address of its own (as a trusted proxy names it), so only the key's window binds."""
    n = uuid.uuid4().int
    return f"10.{n % 256}.{n // 256 % 256}.{n // 65536 % 256}"


def test_a_keys_limit_is_exact_across_processes_and_workers(apis, api_keys: ApiKeys) -> None:
    limit = 12
    with temporary_key(api_keys, "test exact limit", ("search",), per_minute=limit) as token:
        started = time.monotonic()
        answers = [search(apis["a" if n % 2 else "b"], token, address()) for n in range(limit + 4)]
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * limit + [429] * 4, [a.text[:80] for a in answers]
        # The headers follow the window with the least room: each address's own (3, one used) until
        # the key's has less left.
        assert [int(a.headers["ratelimit-remaining"]) for a in answers[:limit]] == [
            min(2, limit - 1 - n) for n in range(limit)
        ]
        assert [a.headers["ratelimit-limit"] for a in answers] == ["3"] * 10 + [str(limit)] * 6
        for refused in answers[limit:]:
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["status"] == 429 and refused.json()["trace_id"]
            # The first counted request leaves the window MINUTE_S after it was made.
            wait = int(refused.headers["retry-after"])
            assert math.floor(MINUTE_S - elapsed) <= wait <= math.ceil(MINUTE_S), (wait, elapsed)
        time.sleep(int(answers[-1].headers["retry-after"]) + 0.2)
        assert search(apis["a"], token, address()).status_code == 200  # the wait was enough


def test_an_address_behind_a_trusted_proxy_has_its_own_window(apis, api_keys: ApiKeys) -> None:
    with temporary_key(api_keys, "test addresses", ("search",)) as token:
        first, second = "203.0.113.7", "203.0.113.8"
        codes = [search(apis["a"], token, first).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]  # 3 a "minute" per address
        assert search(apis["b"], token, second).status_code == 200  # another shopper, any process
        assert search(apis["b"], token, first).status_code == 429  # the same shopper, another process


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(apis, api_keys: ApiKeys) -> None:
    with temporary_key(api_keys, "test untrusted", ("search",)) as token:
        # Each request claims another address; an untrusting API counts them all as the peer's.
        codes = [search(apis["untrusting"], token, f"192.0.2.{n}").status_code for n in range(1, 5)]
    assert codes == [200, 200, 200, 429]


def test_a_server_key_is_limited_per_key_not_per_address(apis, api_keys: ApiKeys) -> None:
    with temporary_key(api_keys, "test backend", ("search", "server"), per_minute=5) as token:
        codes = [search(apis["untrusting"], token).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]  # past the address's 3, up to the key's own 5


def test_limits_hold_per_process_while_redis_is_down(
    app_client, demo_catalog, api_keys: ApiKeys, auth_headers: dict[str, str]
) -> None:
    dead = msgspec.structs.replace(
        demo_catalog,
        redis_url="redis://127.0.0.1:1/0",
        cache_warm_queries=0,
        rate_limit_ip_search_per_minute=3,
        rate_limit_ip_search_burst=3,
    )
    with (
        temporary_key(api_keys, "test fallback", ("search",)) as token,
        app_client(dead) as client,
    ):
        before = fallbacks(client.get("/metrics").text)
        mine = {"Authorization": f"Bearer {token}"}
        codes = [client.get("/v1/search", params={"q": "tent"}, headers=mine).status_code for _ in range(4)]
        after = fallbacks(client.get("/metrics", headers=auth_headers).text)
    assert codes == [200, 200, 200, 429]  # never a 5xx for the limiter; the same window, kept alone
    assert after - before >= 4


def fallbacks(metrics: str) -> float:
    (line,) = [line for line in metrics.splitlines() if line.startswith("quarry_rate_limit_fallbacks_total ")]
    return float(line.split()[1])

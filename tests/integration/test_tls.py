"""TLS and secrets (issue 15, part 6) against real servers: nginx with TLS and basic auth in front of
the local OpenSearch node (the security plugin is not available here), a redis-server speaking TLS
only with a password, and the API serving HTTPS with a certificate from ops/tls-certs. Secrets come
from *_FILE paths, and none of them appears in the API's logs or answers."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvloop

from quarry import connections
from quarry.adapters.resp import RedisUnavailableError
from quarry.adapters.search_engine import SearchEngineError
from quarry.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port, running_api

OPENSEARCH_USER = "quarry-app"
OPENSEARCH_PASSWORD = "os-pw-7c1e9b2f"
REDIS_PASSWORD = "redis-pw-5d3a8e61"
USER_TOKEN_SECRET = "user-token-master-0f4b2c9d-6a1e8b3c5d7f9a2b"


def certificates(folder: Path) -> Path:
    subprocess.run([str(PROJECT_ROOT / "ops" / "tls-certs"), str(folder)], check=True)
    return folder


@contextmanager
def serving(command: list[str], port: int) -> Iterator[None]:
    """The server runs, and listens on `port`, for the duration."""
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as process:
        try:
            for _ in range(100):
                assert process.poll() is None, f"{command[0]} exited at start-up"
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                raise AssertionError(f"nothing listens on {port}")
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Path:
    return certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> Path:
    """A CA that signed nothing the servers present."""
    return certificates(tmp_path_factory.mktemp("other-tls")) / "ca.pem"


@pytest.fixture(scope="module")
def secured_opensearch(tls, settings, tmp_path_factory) -> Iterator[str]:
    """https://127.0.0.1:<port>: nginx terminating TLS and checking basic auth for the local node."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    folder = tmp_path_factory.mktemp("nginx")
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", OPENSEARCH_PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    (folder / "htpasswd").write_text(f"{OPENSEARCH_USER}:{hashed}\n")
    port = free_port()
    upstream = settings.opensearch_url.removeprefix("http://").rstrip("/")
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  client_max_body_size 50m;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tls}/server.pem;
    ssl_certificate_key {tls}/server.key;
    auth_basic "opensearch";
    auth_basic_user_file {folder}/htpasswd;
    location / {{
      proxy_pass http://{upstream};
      proxy_set_header Authorization "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
    )
    with serving([nginx, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-g", "daemon off;"], port):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def secured_redis(tls, tmp_path_factory) -> Iterator[str]:
    """rediss://127.0.0.1:<port>/0: TLS only (no plain port), with a password."""
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    command = [
        "redis-server",
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", str(tls / "server.pem"),
        "--tls-key-file", str(tls / "server.key"),
        "--tls-ca-cert-file", str(tls / "ca.pem"),
        "--tls-auth-clients", "no",
        "--requirepass", REDIS_PASSWORD,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
    ]  # fmt: skip
    with serving(command, port):
        yield f"rediss://127.0.0.1:{port}/0"


def secured(settings: Settings, tls: Path, opensearch: str, redis_url: str, **changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "opensearch_url": opensearch,
        "opensearch_username": OPENSEARCH_USER,
        "opensearch_password": OPENSEARCH_PASSWORD,
        "opensearch_ca_file": str(tls / "ca.pem"),
        "redis_url": redis_url,
        "redis_password": REDIS_PASSWORD,
        "redis_ca_file": str(tls / "ca.pem"),
    }
    return msgspec.structs.replace(settings, **{**fields, **changes})


def test_opensearch_through_tls_and_basic_auth(
    settings, demo_catalog, tls, other_ca, secured_opensearch, secured_redis
) -> None:
    good = secured(settings, tls, secured_opensearch, secured_redis)
    engine = connections.search_engine(good)
    alias = demo_catalog.products_alias  # the test catalog: a clean clone has no other
    assert engine.index_exists(alias)
    assert engine.search(alias, {"size": 1, "query": {"match_all": {}}}).hits

    wrong_password = connections.search_engine(msgspec.structs.replace(good, opensearch_password="guess"))
    with pytest.raises(SearchEngineError) as refused:
        wrong_password.index_exists(alias)
    assert refused.value.status == 401 and "guess" not in str(refused.value)

    untrusted = connections.search_engine(msgspec.structs.replace(good, opensearch_ca_file=str(other_ca)))
    with pytest.raises(SearchEngineError) as unverified:
        untrusted.index_exists(alias)
    assert "certificate" in str(unverified.value).lower()


def test_redis_through_tls_with_a_password(
    settings, tls, other_ca, secured_opensearch, secured_redis
) -> None:
    good = secured(settings, tls, secured_opensearch, secured_redis)
    store = connections.redis_store(good, timeout_s=2)
    store.set("tls-test", b"kept", ttl_s=60)
    assert store.get("tls-test") == b"kept"
    assert not connections.redis_store(
        msgspec.structs.replace(good, redis_password="guess"), timeout_s=2
    ).ping()
    assert not connections.redis_store(
        msgspec.structs.replace(good, redis_ca_file=str(other_ca)), timeout_s=2
    ).ping()

    async def ping(settings: Settings) -> Any:
        client = connections.resp_client(settings, timeout_s=2)
        try:
            return await client.call("PING")
        finally:
            await client.aclose()

    assert uvloop.run(ping(good)) in (b"PONG", "PONG")
    with pytest.raises(RedisUnavailableError):
        uvloop.run(ping(msgspec.structs.replace(good, redis_ca_file=str(other_ca))))
    with pytest.raises(RedisUnavailableError):
        uvloop.run(ping(msgspec.structs.replace(good, redis_password="guess")))


def test_the_api_over_https_with_secrets_from_files_never_shows_them(
    settings, demo_catalog, tls, secured_opensearch, secured_redis, api_token, tmp_path
) -> None:
    secrets = {
        "QUARRY_OPENSEARCH_PASSWORD_FILE": OPENSEARCH_PASSWORD,
        "QUARRY_REDIS_PASSWORD_FILE": REDIS_PASSWORD,
        "QUARRY_USER_TOKEN_SECRET_FILE": USER_TOKEN_SECRET,
    }
    env = {}
    for name, value in secrets.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")
        path.chmod(0o600)
        env[name] = str(path)
    env.update(
        QUARRY_OPENSEARCH_URL=secured_opensearch,
        QUARRY_OPENSEARCH_USERNAME=OPENSEARCH_USER,
        QUARRY_OPENSEARCH_CA_FILE=str(tls / "ca.pem"),
        QUARRY_REDIS_URL=secured_redis,
        QUARRY_REDIS_CA_FILE=str(tls / "ca.pem"),
        QUARRY_API_TLS_CERT_FILE=str(tls / "server.pem"),
        QUARRY_API_TLS_KEY_FILE=str(tls / "server.key"),
        QUARRY_PRODUCTS_ALIAS=demo_catalog.products_alias,
        QUARRY_ARTIFACTS_DIR=demo_catalog.artifacts_dir,
        QUARRY_LOG_LEVEL="DEBUG",
    )
    bodies = []
    with running_api("https", str(tls / "ca.pem"), **env) as (base, output, _):
        trusting = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        with httpx.Client(base_url=base, verify=trusting, timeout=30) as client:
            auth = {"Authorization": f"Bearer {api_token}"}
            search = client.get("/v1/search", params={"q": "sofa"}, headers=auth)
            assert search.status_code == 200, search.text
            assert search.json()["results"]
            assert search.headers["strict-transport-security"].startswith("max-age=")
            bodies.append(search.text)
            for response in (
                client.get(
                    "/v1/search", params={"q": "sofa"}, headers={"Authorization": "Bearer qk_0.wrong"}
                ),
                client.get(
                    "/v1/recommendations",
                    params={"user_id": "u1"},
                    headers={**auth, "X-User-Token": "v1.x.1.y"},
                ),
                client.get("/health/ready"),
                client.get("/metrics", headers=auth),
            ):
                bodies.append(response.text)
        with pytest.raises(httpx.TransportError):
            httpx.get(base.replace("https://", "http://") + "/health/live", timeout=5)
    logged = "\n".join(output)
    assert '"level": "debug"' in logged.lower()  # debug logging reached the captured output
    basic = base64.b64encode(f"{OPENSEARCH_USER}:{OPENSEARCH_PASSWORD}".encode()).decode()  # as sent
    for secret in (OPENSEARCH_PASSWORD, REDIS_PASSWORD, USER_TOKEN_SECRET, basic):
        assert secret not in logged
        assert not any(secret in body for body in bodies)

"""Fixtures shared by every test folder. Service fixtures connect to the real OpenSearch and Redis that
`make test` starts (or the ones QUARRY_OPENSEARCH_URL / QUARRY_REDIS_URL point at)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pipelines.catalog.schema import Product
from quarry.adapters.cache import RedisStore
from quarry.adapters.search_engine import OpenSearchEngine
from quarry.api_keys import SCOPES, ApiKeys, OpenSearchKeyStore, temporary_key
from quarry.privacy import ConsentView, Pseudonyms, ShopperPrivacy, pseudonym_key
from quarry.settings import Settings, load_settings

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

# Airflow configures itself, and the process's logging, when first imported: its tests run in a
# pytest process of their own (ops/run-tests sets RUN_AIRFLOW_TESTS=1 for it, and collects
# nothing else then).
collect_ignore = [] if os.environ.get("RUN_AIRFLOW_TESTS") else ["integration/airflow"]

# Tests read rankings as ranked: a live API shows a share of first pages with neighbours swapped
# (quarry/search/exploration.py), drawn by query id, which would make an order assertion fail now
# and then. The tests of that exploration turn it on themselves. Set before any Settings is read,
# and inherited by the APIs tests start.
os.environ.setdefault("QUARRY_EXPLORATION_SHARE", "0")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


def shopper_privacy() -> ShopperPrivacy:
    """The pseudonyms the API makes on this host (its key in var/keys), with no standing consent."""
    settings = load_settings()
    return ShopperPrivacy(Pseudonyms(pseudonym_key(settings.pseudonym_key, settings.var_path)), ConsentView())


@pytest.fixture(scope="session")
def pseudonyms() -> Pseudonyms:
    """Finds a shopper's stored records, which carry the pseudonym, never the id the test sent."""
    return shopper_privacy().pseudonyms


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[OpenSearchEngine]:
    client = OpenSearchEngine(settings.opensearch_url, settings.opensearch_timeout_s)
    client.health()  # fail the test loudly (not skip) when OpenSearch is not there
    yield client
    client.close()


@pytest.fixture(scope="session")
def store(settings: Settings) -> Iterator[RedisStore]:
    client = RedisStore(settings.redis_url)
    assert client.ping(), f"Redis does not answer at {settings.redis_url}; run make services"
    yield client
    client.close()


@pytest.fixture
def alias(engine: OpenSearchEngine) -> Iterator[str]:
    """A throwaway products alias; its index versions are deleted afterwards."""
    name = f"qt-{uuid.uuid4().hex[:10]}"
    yield name
    for index in engine.list_indices(f"{name}-*"):
        engine.delete_index(index)


def make_product(product_id: str, title: str, **overrides: object) -> Product:
    fields: dict[str, object] = {
        "product_id": product_id,
        "title": title,
        "brand": "Acme",
        "category_path": ["Home & Kitchen", "Furniture", "Sofas"],
        "description": "",
        "price": 100.0,
        "created_at": "2025-01-01",
    }
    fields.update(overrides)
    return Product(**fields)  # type: ignore[arg-type]


def make_event(**overrides: object) -> dict[str, object]:
    """A valid UBI event as clients send it to POST /v1/events: a fresh id, stamped now."""
    event: dict[str, object] = {
        "event_id": f"it-{uuid.uuid4().hex}",
        "action_name": "click",
        "user_id": "u-it",
        "session_id": "s-it",
        "query_id": "q-it",
        "object_id": "P000001",
        "position": 2,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "attributes": {"page": "search"},
    }
    return {**event, **overrides}


@pytest.fixture(scope="session")
def demo_catalog(engine: OpenSearchEngine, settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The demo catalog (seed 42, 20,000 products) in its own alias, with its query-understanding
    artifact in a private model store: what the golden set was judged against."""
    from pipelines.catalog.generator import generate_catalog
    from pipelines.embeddings import embed_catalog, ensure_onnx_encoders
    from pipelines.indexing.versions import build_from_documents, versions
    from pipelines.synonyms.rules import load_rules, opensearch_rules
    from pipelines.understanding import build_and_publish
    from quarry.adapters.artifact_store import LocalArtifactStore
    from quarry.embeddings import SentenceTransformerEncoder
    from quarry.ubi import ensure_ubi_indices

    alias = f"qt-demo-{uuid.uuid4().hex[:8]}"
    ensure_ubi_indices(engine, settings.mappings_dir)
    products = generate_catalog(settings.catalog_size, settings.catalog_seed)
    rules = opensearch_rules(load_rules(settings.synonyms_dir)[0])
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), rules)
    store = LocalArtifactStore(tmp_path_factory.mktemp("artifacts"))
    build_and_publish(engine, store, alias)
    # Vectors for semantic search (a new index version) and the FAISS artifact. The embedding cache
    # in QUARRY_CACHE_DIR makes this seconds after the first run on a machine.
    encoder = SentenceTransformerEncoder(settings.embedding_model)
    embed_catalog(engine, settings, store, encoder, alias)
    ensure_onnx_encoders(store, encoder)  # the API encodes queries with the ONNX export by default
    if settings.category_router_model not in ("", settings.embedding_model):  # ... and routes with one
        ensure_onnx_encoders(store, SentenceTransformerEncoder(settings.category_router_model), "router")
    import msgspec

    yield msgspec.structs.replace(settings, products_alias=alias, artifacts_dir=str(store.root))
    for index in versions(engine, alias):
        engine.delete_index(index)


@pytest.fixture(scope="session")
def shop_catalog(demo_catalog: Settings, engine: OpenSearchEngine, tmp_path_factory: pytest.TempPathFactory):
    """The demo catalog as a shop opens before any events: its artifacts (copied, so other tests'
    store stays as it is) plus the catalog priors `make up` builds, which recommend before
    popularity exists."""
    import shutil

    import msgspec

    from pipelines.catalog_priors import build_and_publish
    from quarry.adapters.artifact_store import LocalArtifactStore

    root = tmp_path_factory.mktemp("shop") / "artifacts"
    shutil.copytree(demo_catalog.artifacts_dir, root)
    build_and_publish(engine, LocalArtifactStore(root), demo_catalog.products_alias, dt.datetime.now(dt.UTC))
    return msgspec.structs.replace(demo_catalog, artifacts_dir=str(root))


@pytest.fixture(scope="session")
def api_keys(engine: OpenSearchEngine) -> ApiKeys:
    """API keys in the test cluster's real key store."""
    return ApiKeys(OpenSearchKeyStore(engine))


@pytest.fixture(scope="session")
def api_token(api_keys: ApiKeys) -> Iterator[str]:
    """A key with every scope, for tests of what the API does (tests of who may call it make their
    own keys); revoked when the session ends."""
    with temporary_key(api_keys, "make test", SCOPES, per_minute=1_000_000) as token:
        yield token


@pytest.fixture(scope="session")
def auth_headers(api_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


AppClient = Callable[..., "TestClient[Litestar]"]


@pytest.fixture(scope="session")
def app_client(api_keys: ApiKeys, auth_headers: dict[str, str]) -> AppClient:
    """`app_client(settings, **create_app arguments)`: a test client of the real app that sends the
    session's key. Keys are checked against the live cluster's store even when a test hands the app
    a dead search cluster."""
    from litestar.testing import TestClient

    from api.app import create_app

    def make(settings: Settings, **kwargs: Any) -> TestClient[Litestar]:
        client: TestClient[Litestar] = TestClient(create_app(settings, keys=api_keys, **kwargs))
        client.headers.update(auth_headers)
        return client

    return make


@pytest.fixture(scope="session")
def api_client(demo_catalog: Settings, app_client: AppClient):
    """The real app (real OpenSearch and Redis) over the demo catalog, in process."""
    with app_client(demo_catalog) as client:
        yield client


@contextmanager
def running_api(
    scheme: str = "http", ca_file: str | None = None, **env: str
) -> Iterator[tuple[str, list[str], subprocess.Popen[str]]]:
    """`python -m api` as `make up` runs it, on a free port; yields (base URL, captured output lines
    once the process has stopped, the process). `scheme` https: the API serves TLS (its certificate
    verified with `ca_file`)."""
    import os
    import socket
    import ssl
    import sys
    import time
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = {**os.environ, "QUARRY_API_PORT": str(port), "QUARRY_CACHE_WARM_QUERIES": "0", **env}
    output: list[str] = []
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=root,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        base = f"{scheme}://127.0.0.1:{port}"
        trusted = ssl.create_default_context(cafile=ca_file) if ca_file else True
        started = time.monotonic()
        try:
            while True:
                try:
                    httpx.get(f"{base}/health/live", timeout=2, verify=trusted)
                    break
                except httpx.TransportError:
                    if process.poll() is not None:
                        raise AssertionError(
                            f"the API process exited during start-up:\n{_tail(process)}"
                        ) from None
                    if time.monotonic() - started > START_UP_BUDGET_S:
                        process.terminate()
                        raise AssertionError(
                            f"the API did not answer on {base} within {START_UP_BUDGET_S} s:\n"
                            + _tail(process)
                        ) from None
                    time.sleep(0.1)
            yield base, output, process
        finally:
            if process.poll() is None:
                process.terminate()
            if process.stdout is not None and not process.stdout.closed:
                out, _ = process.communicate(timeout=20)
                output.extend(out.splitlines())


# A cold start on a loaded CI machine (models, FAISS and the vocabulary read from a cold disk, two
# shared cores busy with OpenSearch) has taken longer than 30 s; a hung start still fails, with its log.
START_UP_BUDGET_S = 120


def _tail(process: subprocess.Popen[str], lines: int = 40) -> str:
    """The last lines the API printed: why it did not start is in them."""
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return "\n".join(out.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus Pushgateway (Debian's) on a free port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("pushgateway") / "log").open("w")
    process = subprocess.Popen(
        ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the Pushgateway did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()

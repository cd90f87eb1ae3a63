"""Fixtures shared by every test folder. Service fixtures connect to the real OpenSearch and Redis that
`make test` starts (or the ones QUARRY_OPENSEARCH_URL / QUARRY_REDIS_URL point at)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pipelines.catalog.schema import Product
from quarry.adapters.cache import RedisStore
from quarry.adapters.search_engine import OpenSearchEngine
from quarry.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


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

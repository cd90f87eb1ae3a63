"""What every API-key store must do; the in-memory store (unit tests) and the OpenSearch store
(production) run the same tests. Keys must survive the process that issued them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from quarry.adapters.search_engine import OpenSearchEngine
from quarry.api_keys import (
    ApiKey,
    ApiKeys,
    KeyConflictError,
    KeyStore,
    KeyStoreError,
    MemoryKeyStore,
    OpenSearchKeyStore,
)


@pytest.fixture(params=["memory", "opensearch"])
def key_store(request, engine) -> Iterator[KeyStore]:
    if request.param == "memory":
        yield MemoryKeyStore()
        return
    index = f"qt-api-keys-{uuid.uuid4().hex[:8]}"
    yield OpenSearchKeyStore(engine, index)
    engine.delete_index(index)


def key(key_id: str, created_at: str = "2026-11-30T12:00:00Z", **fields: object) -> ApiKey:
    return ApiKey(
        key_id=key_id,
        secret_sha256="ab" * 32,
        owner="shop",
        scopes=("search",),
        created_at=created_at,
        **fields,
    )


def test_a_store_satisfies_the_protocol(key_store) -> None:
    assert isinstance(key_store, KeyStore)


def test_an_empty_store_has_no_keys(key_store) -> None:
    assert key_store.get("qk_000000000000") is None
    assert key_store.all() == []


def test_a_created_key_is_read_back_whole_and_at_once(key_store) -> None:
    stored = key("qk_1", filters={"brand": ["Acme"], "in_stock": True}, search_per_minute=300)
    key_store.create(stored)
    found = key_store.get("qk_1")  # no refresh wait: visible to every reader immediately
    assert found is not None and found.key == stored
    assert key_store.all() == [stored]


def test_a_taken_id_cannot_be_created_again(key_store) -> None:
    key_store.create(key("qk_1"))
    with pytest.raises(KeyConflictError):
        key_store.create(key("qk_1", description="another key"))
    found = key_store.get("qk_1")
    assert found is not None and found.key == key("qk_1")


def test_a_replace_needs_the_version_it_read(key_store) -> None:
    key_store.create(key("qk_2", created_at="2026-11-30T13:00:00Z"))
    key_store.create(key("qk_1", created_at="2026-11-30T12:00:00Z"))
    read = key_store.get("qk_2")
    assert read is not None
    revoked = key("qk_2", created_at="2026-11-30T13:00:00Z", revoked_at="2026-11-30T14:00:00Z")
    key_store.replace(revoked, read.version)
    with pytest.raises(KeyConflictError):  # a second writer with the same, now stale, version
        key_store.replace(key("qk_2", created_at="2026-11-30T13:00:00Z"), read.version)
    assert [(k.key_id, k.revoked_at) for k in key_store.all()] == [
        ("qk_1", None),
        ("qk_2", "2026-11-30T14:00:00Z"),
    ]


def test_an_unreachable_store_is_an_error_not_an_unknown_key() -> None:
    store = OpenSearchKeyStore(OpenSearchEngine("http://127.0.0.1:1", timeout_s=1))
    with pytest.raises(KeyStoreError):
        store.get("qk_000000000000")
    with pytest.raises(KeyStoreError):
        ApiKeys(store).verify("qk_000000000000." + "s" * 43)


def test_keys_survive_the_process_that_issued_them(engine) -> None:
    """A new store object and a new ApiKeys (a restarted worker) verify what the first issued."""
    index = f"qt-api-keys-{uuid.uuid4().hex[:8]}"
    try:
        issued = ApiKeys(OpenSearchKeyStore(engine, index)).create(
            "shop", ("search",), expires_in=dt.timedelta(days=1)
        )
        assert ApiKeys(OpenSearchKeyStore(engine, index)).verify(issued.token) == issued.key
    finally:
        engine.delete_index(index)

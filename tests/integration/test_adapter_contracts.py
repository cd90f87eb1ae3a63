"""The behaviour every SearchEngine / KeyValueStore implementation must have. New implementations
(a test double, another client) join the `params` lists and must pass the same tests."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from quarry.adapters.cache import KeyValueStore, RedisStore, guarded
from quarry.adapters.search_engine import OpenSearchEngine, SearchEngine, SearchEngineError

MAPPING = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {"dynamic": "strict", "properties": {"name": {"type": "text"}, "n": {"type": "integer"}}},
}


@pytest.fixture(params=["opensearch"])
def search_engine(request, settings) -> SearchEngine:
    implementations = {"opensearch": lambda: OpenSearchEngine(settings.opensearch_url)}
    return implementations[request.param]()


@pytest.fixture(params=["redis", "guarded-redis"])
def kv_store(request, settings) -> KeyValueStore:
    implementations = {
        "redis": lambda: RedisStore(settings.redis_url),
        "guarded-redis": lambda: guarded(RedisStore(settings.redis_url), f"contract-{uuid.uuid4().hex[:6]}"),
    }
    return implementations[request.param]()


@pytest.fixture
def index_name(search_engine):
    name = f"contract-{uuid.uuid4().hex[:8]}"
    yield name
    search_engine.delete_index(name)


def ndjson(index: str, docs: dict[str, str]) -> bytes:
    return b"".join(
        b'{"index":{"_index":"%s","_id":"%s"}}\n%s\n' % (index.encode(), k.encode(), v.encode())
        for k, v in docs.items()
    )


def test_engine_satisfies_protocol(search_engine) -> None:
    assert isinstance(search_engine, SearchEngine)


def test_index_lifecycle(search_engine, index_name) -> None:
    assert not search_engine.index_exists(index_name)
    search_engine.create_index(index_name, MAPPING)
    assert search_engine.index_exists(index_name)
    assert index_name in search_engine.list_indices("contract-*")
    with pytest.raises(SearchEngineError) as exc:
        search_engine.create_index(index_name, MAPPING)
    assert exc.value.status == 400 and not exc.value.retryable
    search_engine.delete_index(index_name)
    search_engine.delete_index(index_name)  # deleting a missing index is not an error
    assert not search_engine.index_exists(index_name)


def test_bulk_reports_each_item_in_order(search_engine, index_name) -> None:
    search_engine.create_index(index_name, MAPPING)
    response = search_engine.bulk(
        ndjson(
            index_name,
            {
                "a": '{"name": "red sofa", "n": 1}',
                "b": '{"name": "blue sofa", "n": "not a number"}',
                "c": '{"unknown_field": 1}',
            },
        )
    )
    assert [(i.id, i.status) for i in response.items] == [("a", 201), ("b", 400), ("c", 400)]
    assert "mapper_parsing_exception" in (response.items[1].error or "")
    assert "strict_dynamic_mapping_exception" in (response.items[2].error or "")
    search_engine.refresh(index_name)
    assert search_engine.count(index_name) == 1
    assert search_engine.get_document(index_name, "a") == {"name": "red sofa", "n": 1}
    assert search_engine.get_document(index_name, "b") is None


def test_search_and_count_with_query(search_engine, index_name) -> None:
    search_engine.create_index(index_name, MAPPING)
    search_engine.bulk(ndjson(index_name, {str(i): f'{{"name": "item {i}", "n": {i}}}' for i in range(5)}))
    search_engine.refresh(index_name)
    result = search_engine.search(index_name, {"query": {"range": {"n": {"gte": 3}}}, "sort": [{"n": "asc"}]})
    assert result.total == 2 and [h.id for h in result.hits] == ["3", "4"]
    assert search_engine.count(index_name, {"range": {"n": {"lt": 3}}}) == 3


def test_alias_moves_atomically_between_indices(search_engine, index_name) -> None:
    other = index_name + "-b"
    alias = index_name + "-alias"
    try:
        search_engine.create_index(index_name, MAPPING)
        search_engine.create_index(other, MAPPING)
        assert search_engine.alias_targets(alias) == []
        search_engine.point_alias(alias, index_name)
        assert search_engine.alias_targets(alias) == [index_name]
        search_engine.point_alias(alias, other)
        assert search_engine.alias_targets(alias) == [other]
    finally:
        search_engine.delete_index(other)


def test_errors_carry_status(search_engine) -> None:
    with pytest.raises(SearchEngineError) as exc:
        search_engine.search("contract-does-not-exist", {"query": {"match_all": {}}})
    assert exc.value.status == 404


def test_unreachable_cluster_is_retryable_error() -> None:
    with pytest.raises(SearchEngineError) as exc:
        OpenSearchEngine("http://127.0.0.1:1", timeout_s=1).health()
    assert exc.value.status is None and exc.value.retryable


def test_store_satisfies_protocol(kv_store) -> None:
    assert isinstance(kv_store, KeyValueStore)
    assert kv_store.ping()


def test_store_set_get_delete(kv_store) -> None:
    key = f"contract:{uuid.uuid4().hex}"
    assert kv_store.get(key) is None
    kv_store.set(key, b"\x00bytes\xff")
    assert kv_store.get(key) == b"\x00bytes\xff"
    kv_store.delete(key)
    assert kv_store.get(key) is None


def test_store_sets_if_absent_and_reports_what_it_held(kv_store) -> None:
    key = f"contract:claim:{uuid.uuid4().hex}"
    try:
        assert kv_store.set_if_absent(key, b"first", ttl_s=60) is None
        assert kv_store.set_if_absent(key, b"second", ttl_s=60) == b"first"
        assert kv_store.get(key) == b"first"  # the second call changed nothing
    finally:
        kv_store.delete(key)


def test_unreachable_redis_pings_false() -> None:
    assert RedisStore("redis://127.0.0.1:1/0", timeout_s=0.2).ping() is False


def test_a_closed_redis_store_leaves_no_connection_open(settings) -> None:
    name = f"contract-close-{uuid.uuid4().hex[:8]}"
    store = RedisStore(settings.redis_url, client_name=name)
    watcher = redis.Redis.from_url(settings.redis_url)  # CLIENT LIST is no part of the store's protocol

    def open_connections() -> int:
        return sum(1 for c in watcher.client_list() if c.get("name") == name)

    try:
        store.set(f"contract:close:{name}", b"v", ttl_s=30)
        assert open_connections() == 1
        store.close()
        # Redis drops a client when its event loop reads the EOF, not when our close() returns: on a
        # busy machine that can take a moment, so wait (bounded) for the server to see it.
        deadline = time.monotonic() + 10
        while open_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_connections() == 0
    finally:
        watcher.close()


def test_store_keeps_the_newest_recent_values(kv_store) -> None:
    key = f"contract:recent:{uuid.uuid4().hex}"
    kv_store.push_recent({key: ["a", "b"]}, keep=3, ttl_s=60)
    kv_store.push_recent({key: ["c", "d"], f"{key}:other": ["x"]}, keep=3, ttl_s=60)
    assert kv_store.recent(key, 10) == ["d", "c", "b"]
    assert kv_store.recent(key, 2) == ["d", "c"]
    assert kv_store.recent(f"{key}:missing", 5) == []


def test_store_deletes_what_matches_and_nothing_else(kv_store) -> None:
    stem = f"contract:match:{uuid.uuid4().hex}"
    for key in (f"{stem}:a:user-1", f"{stem}:b:user-1", f"{stem}:b:user-1:s:9", f"{stem}:a:user-2"):
        kv_store.set(key, b"v", ttl_s=60)
    try:
        removed = kv_store.delete_matching([f"{stem}:*:user-1", f"{stem}:*:user-1:s:*", f"{stem}:none:*"])
        assert removed == 3
        assert kv_store.get(f"{stem}:a:user-1") is None and kv_store.get(f"{stem}:b:user-1:s:9") is None
        assert kv_store.get(f"{stem}:a:user-2") == b"v"
        assert kv_store.delete_matching([f"{stem}:*:user-1"]) == 0
    finally:
        kv_store.delete(f"{stem}:a:user-2")


def test_store_samples_values_of_the_keys_that_match(kv_store) -> None:
    stem = f"contract:sample:{uuid.uuid4().hex}"
    for n in range(30):
        kv_store.set(f"{stem}:user-{n}:affinity", str(n).encode(), ttl_s=60)
    kv_store.set(f"{stem}:user-x:other", b"not this", ttl_s=60)
    kv_store.push_recent({f"{stem}:user-y:affinity": ["a list, not a value"]}, keep=3, ttl_s=60)
    try:
        everything = kv_store.sample_matching(f"{stem}:*:affinity", 1000)
        assert sorted(int(v) for v in everything) == list(range(30))
        some = kv_store.sample_matching(f"{stem}:*:affinity", 7)
        assert len(some) == 7 and len(set(some)) == 7 and set(some) <= set(everything)
        assert kv_store.sample_matching(f"{stem}:none:*", 10) == []
    finally:
        kv_store.delete_matching([f"{stem}:*"])

"""Moving UBI stores of an older layout, claiming client query ids, and finding another worker's
searches, on the real OpenSearch and Redis. Each test works on indices and keys of its own."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import pytest

from quarry.adapters.cache import RedisStore, guarded
from quarry.adapters.search_engine import index_action
from quarry.query_texts import LoggedQueries
from quarry.search.client_ids import ClientQueryIds, QueryIdConflictError
from quarry.search.schemas import SearchRequest, UbiRequest
from quarry.ubi import UBI_QUERIES
from quarry.ubi_migrations import (
    ORDINAL_META,
    UbiMigrationError,
    migrate_event_ordinals,
    migrate_queries_index,
    read_mappings,
)

# The first layout's ubi_queries: user_query a keyword holding the normalized text.
FIRST_LAYOUT = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": False,
        "properties": {
            "query_id": {"type": "keyword"},
            "user_query": {"type": "keyword"},
            "timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
        },
    },
}


@pytest.fixture
def names(engine) -> Iterator[tuple[str, str]]:
    alias = f"qt-ubi-queries-{uuid.uuid4().hex[:8]}"
    yield alias, f"{alias}-v2"
    for name in (alias, f"{alias}-v2"):
        if engine.alias_targets(name):
            continue  # the alias goes with its index
        if engine.index_exists(name):
            engine.put_index_settings(name, {"index.blocks.write": False})
        engine.delete_index(name)


def bulk(engine, index: str, documents: dict[str, dict]) -> None:
    response = engine.bulk(b"".join(index_action(index, key, doc) for key, doc in documents.items()))
    assert all(item.status < 300 for item in response.items)
    engine.refresh(index)


def test_the_first_query_layout_is_copied_then_replaced_by_the_alias(engine, settings, names) -> None:
    alias, index = names
    engine.create_index(alias, FIRST_LAYOUT)
    old = {
        f"q{n}": {
            "query_id": f"q{n}",
            "user_query": f"red shoes {n}",
            "timestamp": "2026-11-01T10:00:00.000+00:00",
        }
        for n in range(30)
    }
    bulk(engine, alias, old)
    mappings = read_mappings(settings.mappings_dir, UBI_QUERIES)
    assert migrate_queries_index(engine, mappings, alias, index) is True
    assert engine.alias_targets(alias) == [index]  # the name now reads the new index
    assert engine.count(alias) == 30
    record = engine.get_document(alias, "q7")
    assert record is not None and record["normalized_query"] == "red shoes 7"
    mapping = engine.request("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]
    assert mapping["user_query"]["fields"]["keyword"]["type"] == "keyword"
    # Writers keep using the name, through the alias's write index.
    bulk(
        engine,
        alias,
        {"new": {"query_id": "new", "user_query": "Blue Shoes", "timestamp": "2026-11-30T10:00:00.000Z"}},
    )
    assert engine.count(index) == 31
    assert migrate_queries_index(engine, mappings, alias, index) is False  # done once


def test_an_incomplete_copy_keeps_the_old_index(engine, settings, names, monkeypatch) -> None:
    alias, index = names
    engine.create_index(alias, FIRST_LAYOUT)
    bulk(engine, alias, {"q1": {"query_id": "q1", "user_query": "lamp", "timestamp": "2026-11-01T10:00:00Z"}})
    real_count = engine.count

    def short_count(name: str, query=None) -> int:  # the copy looks one record short
        return real_count(name, query) - (1 if name == index else 0)

    monkeypatch.setattr(engine, "count", short_count)
    with pytest.raises(UbiMigrationError, match="is kept"):
        migrate_queries_index(engine, read_mappings(settings.mappings_dir, UBI_QUERIES), alias, index)
    monkeypatch.undo()
    assert engine.index_exists(alias) and not engine.alias_targets(alias)  # still the plain index
    settings_body = engine.get_index_settings(alias)["index"]
    assert settings_body["blocks"]["write"] == "true"  # nobody writes records the copy would miss


def test_ordinals_of_a_day_written_1_based_go_down_by_one_once(engine) -> None:
    index = f"qt-events-{uuid.uuid4().hex[:8]}"
    engine.create_index(
        index,
        {
            "mappings": {
                "dynamic": False,
                "properties": {
                    "received_at": {"type": "date"},
                    "event_attributes": {
                        "properties": {"position": {"properties": {"ordinal": {"type": "integer"}}}}
                    },
                },
            }
        },
    )
    try:
        before = "2026-11-30T00:00:00.000Z"
        bulk(
            engine,
            index,
            {
                "third": {
                    "received_at": "2026-11-29T10:00:00.000Z",
                    "event_attributes": {"position": {"ordinal": 3}},
                },
                "first": {
                    "received_at": "2026-11-29T10:00:01.000Z",
                    "event_attributes": {"position": {"ordinal": 1}},
                },
                "no-rank": {
                    "received_at": "2026-11-29T10:00:02.000Z",
                    "event_attributes": {"position": {"xy": {"x": 1, "y": 2}}},
                },
                "new": {
                    "received_at": "2026-11-30T00:00:05.000Z",
                    "event_attributes": {"position": {"ordinal": 0}},
                },
            },
        )
        assert migrate_event_ordinals(engine, index, before) == 2
        ordinal = {
            key: (engine.get_document(index, key) or {})["event_attributes"]["position"].get("ordinal")
            for key in ("third", "first", "no-rank", "new")
        }
        assert ordinal == {"third": 2, "first": 0, "no-rank": None, "new": 0}
        meta = engine.request("GET", f"/{index}/_mapping")[index]["mappings"]["_meta"]
        assert meta[ORDINAL_META] == 0
        assert migrate_event_ordinals(engine, index, "2030-01-01T00:00:00.000Z") == 0  # marked: never twice
        assert (engine.get_document(index, "third") or {})["event_attributes"]["position"]["ordinal"] == 2
    finally:
        engine.delete_index(index)


def test_a_client_query_id_is_claimed_once_across_processes(settings) -> None:
    """Two API instances share Redis: the id goes to the first search, a retry is fine, another
    search is refused, in either instance."""
    here = ClientQueryIds(guarded(RedisStore(settings.redis_url), "t1"))
    there = ClientQueryIds(guarded(RedisStore(settings.redis_url), "t2"))
    ubi = UbiRequest(query_id=f"q-{uuid.uuid4().hex}", client_id="c-1")
    search = SearchRequest(q="desk lamp", ubi=ubi)
    assert here.claim(search) is True
    assert there.claim(search) is True  # a retry, wherever it lands
    with pytest.raises(QueryIdConflictError):
        there.claim(SearchRequest(q="floor lamp", ubi=ubi))
    assert here.claim(SearchRequest(q="anything")) is True  # no client id: nothing to claim


def test_an_unreachable_redis_leaves_ids_unchecked_not_searches_failed() -> None:
    ids = ClientQueryIds(guarded(RedisStore("redis://127.0.0.1:1/0", timeout_s=0.2), "t3"))
    assert ids.claim(SearchRequest(q="lamp", ubi=UbiRequest(query_id="q-x"))) is False


def test_another_workers_search_is_read_from_the_query_log(engine) -> None:
    """The worker that logged a search remembers it; any other finds it in `ubi_queries` (a multi-get
    the translog answers, before any refresh)."""
    query_id = f"q-{uuid.uuid4().hex}"
    record = {
        "query_id": query_id,
        "user_query": "Wireless Mouse",
        "normalized_query": "wireless mouse",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "client_id": "qt-logged-queries",
    }
    engine.request("PUT", f"/{UBI_QUERIES}/_doc/{query_id}", record)  # no refresh
    other_worker = LoggedQueries(engine)
    assert other_worker.texts([query_id, "q-never-logged"]) == {query_id: "Wireless Mouse"}
    engine.request("DELETE", f"/{UBI_QUERIES}/_doc/{query_id}")
    assert other_worker.texts([query_id]) == {query_id: "Wireless Mouse"}  # remembered since
    assert json.dumps(LoggedQueries(engine).texts([query_id])) == "{}"

from __future__ import annotations

import pytest

from pipelines.catalog.generator import generate_catalog
from pipelines.indexing.bulk import BulkStats
from pipelines.indexing.versions import (
    IndexVerificationError,
    build_from_documents,
    build_version,
    load_index_body,
    rollback,
    versions,
)
from quarry.adapters.search_engine import SearchEngineError
from quarry.ubi import ensure_ubi_indices


def docs(size: int = 200, seed: int = 1):
    return ((p.product_id, p.to_document()) for p in generate_catalog(size, seed))


def test_products_mapping_is_applied(engine, settings, alias) -> None:
    result = build_from_documents(engine, settings, alias, docs(50), ["sofa, settee"])
    mapping = engine.request("GET", f"/{result.index}/_mapping")[result.index]["mappings"]["properties"]
    assert mapping["product_id"]["type"] == "keyword"
    assert mapping["title"]["type"] == "text" and mapping["title"]["fields"]["keyword"]["type"] == "keyword"
    assert mapping["title"]["search_analyzer"] == "english_search"
    assert mapping["brand"]["type"] == "keyword" and mapping["brand"]["fields"]["text"]["type"] == "text"
    for level in ("category_lvl1", "category_lvl2", "category_lvl3", "category_path"):
        assert mapping[level]["type"] == "keyword"
    assert mapping["price"] == {"type": "scaled_float", "scaling_factor": 100.0}
    assert mapping["in_stock"]["type"] == "boolean" and mapping["created_at"]["type"] == "date"
    assert mapping["attributes"]["properties"]["color"]["type"] == "keyword"
    embedding = mapping["embedding"]
    assert embedding["type"] == "knn_vector" and embedding["dimension"] == 384
    assert embedding["method"]["engine"] == "lucene" and embedding["method"]["space_type"] == "cosinesimil"
    settings_body = engine.get_index_settings(result.index)["index"]
    assert settings_body["refresh_interval"] == "1s"  # restored after the bulk load
    assert settings_body["analysis"]["filter"]["quarry_synonyms"]["synonyms"] == ["sofa, settee"]


def test_ubi_indices_have_keyword_ids(engine, settings) -> None:
    ensure_ubi_indices(engine, settings.mappings_dir)
    for index in ("ubi_queries", "ubi_events"):
        props = next(iter(engine.request("GET", f"/{index}/_mapping").values()))["mappings"]["properties"]
        for field in ("user_id", "client_id", "session_id", "query_id"):
            assert props[field]["type"] == "keyword", (index, field)
    events = next(iter(engine.request("GET", "/ubi_events/_mapping").values()))["mappings"]["properties"]
    assert events["object_id"]["type"] == "keyword" and events["action_name"]["type"] == "keyword"
    assert events["event_attributes"]["properties"]["position"]["properties"]["ordinal"]["type"] == "integer"


def test_older_daily_event_indices_get_the_mappings_additions_around_a_conflict(engine, settings) -> None:
    """An index made before a mapping change gets its additions (here a `.keyword` subfield), even
    when one of its fields has a type the new mapping changed (that field keeps its type)."""
    old_day = "ubi_events-2001.01.01"
    ensure_ubi_indices(engine, settings.mappings_dir)
    engine.delete_index(old_day)
    # An older layout: a plain keyword client id, and an object name that was text.
    name = {"event_attributes": {"properties": {"object": {"properties": {"name": {"type": "text"}}}}}}
    old_mapping = {"dynamic": False, "properties": {"client_id": {"type": "keyword"}, **name}}
    try:
        engine.request("PUT", f"/{old_day}", {"mappings": old_mapping})
        ensure_ubi_indices(engine, settings.mappings_dir)
        mapping = engine.request("GET", f"/{old_day}/_mapping")[old_day]["mappings"]["properties"]
        assert mapping["client_id"]["fields"]["keyword"]["type"] == "keyword"  # the addition landed
        assert mapping["event_attributes"]["properties"]["object"]["properties"]["name"]["type"] == "text"
        assert mapping["event_attributes"]["properties"]["session_id"]["fields"]["keyword"]
    finally:
        engine.delete_index(old_day)


def test_build_swaps_alias_keeps_previous_and_deletes_older(engine, settings, alias) -> None:
    first = build_from_documents(engine, settings, alias, docs(100, 1), [])
    assert engine.alias_targets(alias) == [first.index] and engine.count(alias) == 100
    second = build_from_documents(engine, settings, alias, docs(120, 2), [])
    assert engine.alias_targets(alias) == [second.index] and second.previous == [first.index]
    third = build_from_documents(engine, settings, alias, docs(130, 3), [])
    assert versions(engine, alias) == [second.index, third.index]
    assert third.deleted == [first.index]
    assert engine.count(alias) == 130


def test_rollback_points_to_previous_version(engine, settings, alias) -> None:
    first = build_from_documents(engine, settings, alias, docs(100, 1), [])
    second = build_from_documents(engine, settings, alias, docs(150, 2), [])
    assert rollback(engine, alias) == (second.index, first.index)
    assert engine.alias_targets(alias) == [first.index] and engine.count(alias) == 100
    with pytest.raises(SearchEngineError, match="no version"):
        rollback(engine, alias)


def test_failed_build_leaves_alias_untouched_and_cleans_up(engine, settings, alias) -> None:
    live = build_from_documents(engine, settings, alias, docs(50), [])
    body = load_index_body(settings.mappings_dir, [], settings.embedding_dimension)

    def broken_fill(index: str) -> BulkStats:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        build_version(engine, alias, body, broken_fill)
    assert engine.alias_targets(alias) == [live.index]
    assert versions(engine, alias) == [live.index]


def test_count_mismatch_blocks_the_swap(engine, settings, alias) -> None:
    live = build_from_documents(engine, settings, alias, docs(50), [])
    body = load_index_body(settings.mappings_dir, [], settings.embedding_dimension)

    def lying_fill(index: str) -> BulkStats:
        return BulkStats(sent=10, indexed=10)  # claims documents that were never written

    with pytest.raises(IndexVerificationError, match="holds 0 documents but 10"):
        build_version(engine, alias, body, lying_fill)
    assert engine.alias_targets(alias) == [live.index]


def test_documents_opensearch_rejects_are_reported(engine, settings, alias) -> None:
    good = list(docs(20))
    bad = ("BAD1", {**good[0][1], "product_id": "BAD1", "price": "not a price"})
    result = build_from_documents(engine, settings, alias, iter([*good, bad]), [])
    assert result.indexed == 20
    assert [(f.doc_id, f.status) for f in result.failures] == [("BAD1", 400)]
    assert engine.count(alias) == 20

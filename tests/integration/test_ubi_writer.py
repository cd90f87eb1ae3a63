"""The background query-log writer against the real `ubi_queries` index: records submitted from many
threads at once are all stored, they are written without anyone calling `flush`, `stop` writes what
is left, and a full buffer drops (and counts) instead of blocking."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import REGISTRY

from quarry.adapters.search_engine import OpenSearchEngine
from quarry.query_log import QueryLogWriter, UbiQuery
from quarry.settings import Settings
from quarry.ubi import UBI_QUERIES, UbiLayout, UbiLayoutError


def _records(tag: str, count: int) -> list[UbiQuery]:
    return [
        UbiQuery(
            query_id=f"{tag}-{n}",
            user_query=f"Query {n}",
            normalized_query=f"query {n}",
            query_response_id=f"{tag}-r{n}",
            query_response_hit_ids=[f"P{n}", f"P{n + 1}"],
            timestamp="2026-11-28T12:00:00.000Z",
            application="quarry",
            query=f'{{"q":"Query {n}"}}',
            object_id_field="product_id",
            client_id=tag,
        )
        for n in range(count)
    ]


def _stored(engine: OpenSearchEngine, tag: str) -> set[str]:
    engine.refresh(UBI_QUERIES)
    hits = engine.scan(UBI_QUERIES, {"term": {"client_id": tag}})
    return {str(hit.source["query_id"]) for hit in hits}


def _writer(engine: OpenSearchEngine, settings: Settings, **options: Any) -> QueryLogWriter:
    return QueryLogWriter(engine, layout=UbiLayout(engine, settings.mappings_dir), **options)


@contextmanager
def _running(engine: OpenSearchEngine, settings: Settings, **options: Any) -> Iterator[QueryLogWriter]:
    writer = _writer(engine, settings, **options)
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()


def test_records_from_concurrent_threads_are_all_stored(engine, settings) -> None:
    tag = f"w-{uuid.uuid4().hex[:8]}"
    records = _records(tag, 1600)
    with _running(engine, settings, batch_size=100, flush_interval_s=0.05) as writer:
        threads = [
            threading.Thread(target=lambda part=records[i::8]: [writer.submit(r) for r in part])
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert writer.flush(timeout_s=60)
    assert writer.dropped == 0
    assert _stored(engine, tag) == {r.query_id for r in records}
    stored = engine.get_document(UBI_QUERIES, records[7].query_id)
    assert stored is not None and stored["query_response_hit_ids"] == ["P7", "P8"]


def test_records_are_written_without_a_flush(engine, settings) -> None:
    """Fewer records than a batch still leave on the writer's timer."""
    tag = f"t-{uuid.uuid4().hex[:8]}"
    records = _records(tag, 3)
    with _running(engine, settings, batch_size=500, flush_interval_s=0.1) as writer:
        for record in records:
            assert writer.submit(record)
        deadline = time.monotonic() + 30  # generous: this only bounds a hang, it times nothing
        while _stored(engine, tag) != {r.query_id for r in records} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _stored(engine, tag) == {r.query_id for r in records}


def test_stop_writes_what_is_left(engine, settings) -> None:
    tag = f"s-{uuid.uuid4().hex[:8]}"
    records = _records(tag, 50)
    writer = _writer(engine, settings, batch_size=500, flush_interval_s=3600)
    writer.start()
    for record in records:
        writer.submit(record)
    writer.stop()
    assert _stored(engine, tag) == {r.query_id for r in records}


def test_a_full_buffer_drops_and_counts(engine, settings) -> None:
    tag = f"f-{uuid.uuid4().hex[:8]}"
    writer = _writer(engine, settings, capacity=5, batch_size=500)  # not started: nothing drains
    accepted = [writer.submit(r) for r in _records(tag, 8)]
    assert accepted == [True] * 5 + [False] * 3
    assert writer.dropped == 3
    writer.start()
    assert writer.flush(timeout_s=60)
    writer.stop()
    assert len(_stored(engine, tag)) == 5


def test_logged_hit_ids_answer_term_queries_aggregations_and_exists(engine, settings) -> None:
    """The hit ids are stored as doc values only (cheaper writes): UBI tooling's questions about them
    ("which queries showed this product", "most shown products") must still be answerable."""
    tag = f"h-{uuid.uuid4().hex[:8]}"
    records = _records(tag, 4)  # hit ids P0 P1, P1 P2, P2 P3, P3 P4
    with _running(engine, settings) as writer:
        for record in records:
            writer.submit(record)
        assert writer.flush(timeout_s=60)
    engine.refresh(UBI_QUERIES)
    mine = {"term": {"client_id": tag}}
    showing_p2 = engine.search(
        UBI_QUERIES,
        {"size": 10, "query": {"bool": {"filter": [mine, {"term": {"query_response_hit_ids": "P2"}}]}}},
    )
    assert {h.source["query_id"] for h in showing_p2.hits} == {f"{tag}-1", f"{tag}-2"}
    shown = engine.search(
        UBI_QUERIES,
        {"size": 0, "query": mine, "aggs": {"ids": {"terms": {"field": "query_response_hit_ids"}}}},
    )
    counts = {b["key"]: b["doc_count"] for b in shown.aggregations["ids"]["buckets"]}
    assert counts == {"P0": 1, "P1": 2, "P2": 2, "P3": 2, "P4": 1}
    with_hits = {"bool": {"filter": [mine, {"exists": {"field": "query_response_hit_ids"}}]}}
    assert engine.count(UBI_QUERIES, with_hits) == 4


class _FailsOnce(UbiLayout):
    """A layout check that blows up once with an error the writer does not expect."""

    def __init__(self, engine: OpenSearchEngine, settings: Settings) -> None:
        super().__init__(engine, settings.mappings_dir)
        self.failed = False

    def ensure(self) -> None:
        if not self.failed:
            self.failed = True
            raise UbiLayoutError("a plain index named ubi_events holds events")
        super().ensure()


def test_the_writer_outlives_an_unexpected_error(engine, settings) -> None:
    tag = f"e-{uuid.uuid4().hex[:8]}"
    first, second = _records(tag, 2)
    writer = QueryLogWriter(engine, layout=_FailsOnce(engine, settings), flush_interval_s=0.05)
    failed_before = (
        REGISTRY.get_sample_value("quarry_ubi_query_log_dropped_total", {"reason": "write_failed"}) or 0
    )
    writer.start()
    try:
        writer.submit(first)
        assert writer.flush(timeout_s=30)
        writer.submit(second)
        assert writer.flush(timeout_s=30)
    finally:
        writer.stop()
    failed = REGISTRY.get_sample_value("quarry_ubi_query_log_dropped_total", {"reason": "write_failed"})
    assert failed == failed_before + 1  # the first record, counted
    assert _stored(engine, tag) == {second.query_id}

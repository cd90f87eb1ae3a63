"""Batched record writers on the real cluster (quarry/index_batches.py): what a caller flushes is
stored when flush returns, even while the timer is writing the batch it took."""

from __future__ import annotations

import threading
import uuid

from quarry.adapters.search_engine import BulkResponse, OpenSearchEngine
from quarry.index_batches import IndexBatches

MAPPING = {"mappings": {"properties": {"n": {"type": "integer"}}}}


class SlowBulkEngine(OpenSearchEngine):
    """The real engine whose bulk writes start late: the window in which the timer holds a batch."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writing = threading.Event()

    def bulk(self, ndjson: bytes) -> BulkResponse:
        self.writing.set()
        threading.Event().wait(0.5)
        return super().bulk(ndjson)


def test_a_flush_waits_for_the_batch_the_timer_is_writing(settings, engine) -> None:
    index = f"test-batches-{uuid.uuid4().hex[:8]}"
    slow = SlowBulkEngine(settings.opensearch_url)
    batches = IndexBatches(slow, index, MAPPING, every=100, after_s=0.05)
    try:
        batches.add({"n": 1}, doc_id="first")
        assert slow.writing.wait(10)  # the timer took the record and is writing it
        batches.flush()
        stored = engine.request("GET", f"/{index}/_doc/first")  # a get by id needs no refresh
        assert stored["found"] is True and stored["_source"] == {"n": 1}
    finally:
        batches.close()
        engine.delete_index(index)

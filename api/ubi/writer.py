"""A background batch writer for `ubi_queries`: the request thread only enqueues (microseconds);
a daemon thread bulk-writes batches. The queue is bounded; an overflow drops the record, counts it
and logs it, because blocking search on analytics would be worse than losing a log line."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine, SearchEngineError, index_action
from quarry.metrics import UBI_QUERY_LOG_DROPS
from quarry.ubi import UBI_QUERIES, UbiLayout

log = logging.getLogger("api.ubi")

APPLICATION = "quarry"


class UbiQuery(msgspec.Struct):
    query_id: str
    user_query: str
    query_response_hit_ids: list[str]
    timestamp: str
    application: str = APPLICATION
    client_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    query_response_id: str | None = None
    object_id_field: str = "product_id"
    query_attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class QueryLogWriter:
    def __init__(
        self,
        engine: SearchEngine,
        capacity: int = 10000,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        layout: UbiLayout | None = None,
    ) -> None:
        self._engine = engine
        self._layout = layout
        # Records wait as ready bulk actions: encoding happens on the request thread (a few µs), so the
        # writer thread holds the GIL only to join bytes, not to encode thousands of records at once
        # (which stalled the event loop of a busy worker once a second).
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=capacity)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ubi-query-writer", daemon=True)
        self.dropped = 0
        self._pending = 0  # accepted by submit, not yet written or failed
        self._pending_lock = threading.Condition()

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: UbiQuery) -> bool:
        action = index_action(UBI_QUERIES, record.query_id, record)
        try:
            with self._pending_lock:
                self._queue.put_nowait(action)
                self._pending += 1
        except queue.Full:
            self.dropped += 1
            UBI_QUERY_LOG_DROPS.labels("queue_full").inc()
            log.warning(
                "ubi query log full: record dropped",
                extra={"query_id": record.query_id, "dropped_total": self.dropped},
            )
            return False
        return True

    def _drain(self) -> list[bytes]:
        batch: list[bytes] = []
        deadline = time.monotonic() + self._flush_interval_s
        while len(batch) < self._batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[bytes]) -> None:
        body = b"".join(batch)
        try:
            if self._layout is not None:
                self._layout.ensure()
            response = self._engine.bulk(body)
        except SearchEngineError as exc:
            UBI_QUERY_LOG_DROPS.labels("write_failed").inc(len(batch))
            log.error("ubi query log write failed", extra={"records": len(batch), "error": str(exc)})
            return
        bad = [item for item in response.items if item.status >= 300]
        if bad:
            UBI_QUERY_LOG_DROPS.labels("rejected").inc(len(bad))
            log.error("ubi query records rejected", extra={"records": len(bad), "first_error": bad[0].error})

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            batch = self._drain()
            if batch:
                self._write(batch)
                with self._pending_lock:
                    self._pending -= len(batch)
                    self._pending_lock.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted so far is written or failed; False on timeout."""
        with self._pending_lock:
            return self._pending_lock.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

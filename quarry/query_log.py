"""A background batch writer for `ubi_queries`: the request thread only enqueues (microseconds);
a daemon thread bulk-writes batches. The buffer is bounded; an overflow drops the record, counts it
and logs it, because blocking search on analytics would be worse than losing a log line."""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import msgspec

from quarry.adapters.search_engine import SearchEngine, SearchEngineError, index_action
from quarry.metrics import UBI_QUERY_LOG_DROPS
from quarry.query_texts import LoggedQueries
from quarry.ubi import UBI_QUERIES, UbiLayout

log = logging.getLogger("api.ubi")

APPLICATION = "quarry"
CONFLICT = 409
# What `query_response_hit_ids` hold: the catalog's product ids.
OBJECT_ID_FIELD = "product_id"


class UbiQuery(msgspec.Struct, omit_defaults=True):
    """A `ubi_queries` record (UBI 1.3). Optional ids are left out when unknown: no explicit nulls."""

    query_id: str
    user_query: str
    """As the shopper typed it."""
    normalized_query: str
    """What Quarry searched for: the key aggregations group by (Quarry's extension)."""
    query_response_id: str
    query_response_hit_ids: list[str]
    timestamp: str
    application: str
    query: str
    """The search request (JSON), as the UBI plugin stores the search body."""
    object_id_field: str
    client_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    query_attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class QueryLogWriter:
    """Records wait in a deque as ready bulk actions. Request threads append (atomic under the GIL)
    and never wake the writer for a single record: it wakes on a timer, or once a full batch is
    waiting. A `queue.Queue` woke it for every record: py-spy put that hand-over (`Condition.notify`)
    at 7-13 % of a busy worker's samples, and the deque cut the API's CPU per cached search by about
    5 % (docs/search-api.md#performance). Encoding happens on the request thread (a few µs), so the
    writer holds the GIL only to join bytes, not to encode thousands of records at once (which stalled
    the event loop of a busy worker once a second)."""

    def __init__(
        self,
        engine: SearchEngine,
        capacity: int = 10000,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        layout: UbiLayout | None = None,
        logged: LoggedQueries | None = None,
    ) -> None:
        """`logged`: remembers each queued search's text for the events that will name it."""
        self._engine = engine
        self._logged = logged
        self._layout = layout
        self._records: deque[bytes] = deque()
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ubi-query-writer", daemon=True)
        self.dropped = 0
        self._writing = False  # a batch is taken from the deque and not yet written or failed
        self._written = threading.Condition()

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: UbiQuery) -> bool:
        # `create`: a record never overwrites another search's under the same id (a client reusing one
        # of Quarry's ids, a retry of a search that was logged already); the refusal is counted.
        action = index_action(UBI_QUERIES, record.query_id, record, op_type="create")
        # Several threads may pass this check at once: the deque can exceed its capacity by at most
        # the number of request threads, which is still a bound.
        if len(self._records) >= self._capacity:
            self.dropped += 1
            UBI_QUERY_LOG_DROPS.labels("queue_full").inc()
            log.warning(
                "ubi query log full: record dropped",
                extra={"query_id": record.query_id, "dropped_total": self.dropped},
            )
            return False
        self._records.append(action)
        if self._logged is not None:
            self._logged.remember(record.query_id, record.user_query)
        if len(self._records) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def _take_batch(self) -> list[bytes]:
        batch: list[bytes] = []
        try:
            while len(batch) < self._batch_size:
                batch.append(self._records.popleft())
        except IndexError:
            pass
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
        except Exception:  # this thread is the only writer: it must outlive any one batch
            UBI_QUERY_LOG_DROPS.labels("write_failed").inc(len(batch))
            log.exception("ubi query log write failed unexpectedly", extra={"records": len(batch)})
            return
        taken = sum(1 for item in response.items if item.status == CONFLICT)
        if taken:
            UBI_QUERY_LOG_DROPS.labels("duplicate_id").inc(taken)
        bad = [item for item in response.items if item.status >= 300 and item.status != CONFLICT]
        if bad:
            UBI_QUERY_LOG_DROPS.labels("rejected").inc(len(bad))
            log.error("ubi query records rejected", extra={"records": len(bad), "first_error": bad[0].error})

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            while True:
                with self._written:
                    self._writing = True
                batch = self._take_batch()
                if batch:
                    self._write(batch)
                with self._written:
                    self._writing = False
                    self._written.notify_all()
                if not batch:
                    break
            if self._stop.is_set() and not self._records:
                return

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted so far is written or failed; False on timeout."""
        self._wake.set()
        with self._written:
            return self._written.wait_for(lambda: not self._records and not self._writing, timeout=timeout_s)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

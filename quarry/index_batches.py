"""Small documents the service records for later analysis (shadow comparisons, canary requests),
written to their index in bulk, off the request path.

A request only appends bytes under a lock. A batch is written when it reaches `every` documents, or
by a timer thread `after_s` seconds later, so the last few records of a quiet period land too, and
at `close()`. A write that fails is logged and its batch dropped: these are measurements, and the
service must never wait for, or fail because of, their store.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from quarry.adapters.search_engine import SearchEngine, SearchEngineError, index_action
from quarry.records import delete_by_query

log = logging.getLogger("quarry.index_batches")


class IndexBatches:
    def __init__(
        self,
        engine: SearchEngine | None,
        index: str,
        mapping: Mapping[str, Any],
        every: int = 50,
        after_s: float = 5.0,
    ) -> None:
        """`engine` None: nothing is stored (a service without a cluster for its records)."""
        self.index = index
        self._engine = engine
        self._mapping = mapping
        self._every = every
        self._after_s = after_s
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        # Held while a batch is written: a flush that finds nothing pending must still wait for the
        # batch the timer took a moment ago, or "flushed" records are not yet stored.
        self._writing = threading.Lock()
        self._index_ready = False
        self._timer: threading.Thread | None = None
        self._stopped = threading.Event()

    def add(self, document: Mapping[str, Any], doc_id: str | None = None) -> None:
        if self._engine is None:
            return
        action = index_action(self.index, doc_id or uuid.uuid4().hex, document)
        with self._lock:
            self._pending.append(action)
            due = len(self._pending) >= self._every
            if self._timer is None:  # started on first use: a process that records nothing has no thread
                self._timer = threading.Thread(target=self._tick, name=f"batches-{self.index}", daemon=True)
                self._timer.start()
        if due:  # never wait on a request thread: a write under way (or the timer) takes the rest
            self._write(block=False)

    def _tick(self) -> None:
        while not self._stopped.wait(self._after_s):
            self.flush()

    def flush(self) -> None:
        """Returns when every record added before the call is written (or reported lost)."""
        self._write(block=True)

    def _write(self, block: bool) -> None:
        if not self._writing.acquire(blocking=block):
            return
        try:
            with self._lock:
                pending, self._pending = self._pending, []
            if not pending or self._engine is None:
                return
            try:
                if not self._index_ready:
                    self._prepare_index()  # a bulk alone would make the index with guessed types
                self._engine.bulk(b"".join(pending))
            except Exception as exc:  # the records are lost, the service is not
                log.warning(
                    "records not stored",
                    extra={"index": self.index, "count": len(pending), "error": repr(exc)},
                )
        finally:
            self._writing.release()

    def _prepare_index(self) -> None:
        """Creates the index, or adds the fields this version records to one an older version made
        (a field the mapping lacks is stored but cannot be searched)."""
        assert self._engine is not None  # noqa: S101 - flush returns first without one
        if not self._engine.index_exists(self.index):
            self._engine.create_index(self.index, self._mapping)  # failing, nothing is written
        else:
            try:
                self._engine.request("PUT", f"/{self.index}/_mapping", self._mapping["mappings"])
            except SearchEngineError as exc:  # the records are still stored, the new fields unsearchable
                log.warning("records mapping not updated", extra={"index": self.index, "error": repr(exc)})
        self._index_ready = True

    def close(self) -> None:
        self._stopped.set()
        self.flush()


def drop_older_than(
    engine: SearchEngine, indices: Iterable[str], days: int, now: dt.datetime, field: str = "at"
) -> int:
    """Delete the records (by their date `field`) older than `days` from these indices; how many."""
    cutoff = {"range": {field: {"lt": (now - dt.timedelta(days=days)).isoformat()}}}
    return sum(delete_by_query(engine, index, cutoff) for index in indices)

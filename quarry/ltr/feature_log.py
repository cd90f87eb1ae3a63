"""Feature logging (docs/ltr.md#feature-logging): for a sampled share of searches, the feature
vectors of the ranked window, keyed by the search's `query_id` and product, with the feature set and
the ranking and model versions that ordered the window. Training joins them to UBI events by
`query_id`, so every example carries the features as they were when the shopper saw the results.

A sampled search that ranks its window (a cache miss, relevance order) keeps the window's feature
context and offers it, with its id, to a bounded queue (a full queue drops the offer and counts it);
one worker thread computes the features (or takes the ones an LTR model just scored) and writes them
in bulk to a daily index (`quarry-ltr-features-YYYY.MM.DD`). Nothing is searched again. A cache hit
is not logged: it shows the window of the search that filled the cache, and training keeps one
window per query (docs/ltr.md#feature-logging). Sampling hashes the query id, so a replayed search is
sampled as its original was; a replay re-runs the search (`SearchService.feature_window`)."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec

from quarry.adapters.search_engine import SearchEngine, index_action
from quarry.canary import bucket
from quarry.ltr.features import FeatureExtractor, FeatureVectors
from quarry.metrics import LTR_FEATURE_LOG
from quarry.search.schemas import SearchRequest
from quarry.timestamps import iso_utc

log = logging.getLogger("quarry.ltr")

INDEX_PREFIX = "quarry-ltr-features"
SALT = "ltr-feature-log"
QUEUE_CAPACITY = 1000
MAPPING: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "query_id": {"type": "keyword"},
            "product_id": {"type": "keyword"},
            "query": {"type": "keyword"},
            "at": {"type": "date"},
            "now_millis": {"type": "long"},
            "source": {"type": "keyword"},
            "featureset": {"type": "keyword"},
            "ranking_version": {"type": "keyword"},
            "model_version": {"type": "keyword"},
            "window_rank": {"type": "integer"},
            "features": {"type": "float", "index": False},
        },
    },
}

Source = Literal["live", "replay"]


def feature_log_index(at: dt.datetime) -> str:
    return f"{INDEX_PREFIX}-{at:%Y.%m.%d}"


class FeatureRecord(msgspec.Struct, frozen=True):
    """One product of one logged search. `features` follow the feature set's names; `window_rank`
    is the product's 1-based place in the ranked window (the shown page is its first ranks)."""

    query_id: str
    product_id: str
    query: str
    at: str
    now_millis: int
    source: str
    featureset: str
    ranking_version: str
    model_version: str
    window_rank: int
    features: list[float]


def records(
    query_id: str,
    query: str,
    ranked_ids: list[str],
    vectors: FeatureVectors,
    now_millis: int,
    ranking_version: str,
    model_version: str,
    source: Source,
) -> list[FeatureRecord]:
    at = iso_utc(dt.datetime.fromtimestamp(now_millis / 1000, dt.UTC))
    return [
        FeatureRecord(
            query_id=query_id,
            product_id=product,
            query=query,
            at=at,
            now_millis=now_millis,
            source=source,
            featureset=vectors.featureset,
            ranking_version=ranking_version,
            model_version=model_version,
            window_rank=rank,
            features=vectors.vectors[product],
        )
        for rank, product in enumerate(ranked_ids, start=1)
        if product in vectors.vectors
    ]


def write_records(engine: SearchEngine, found: Iterable[FeatureRecord]) -> int:
    """Bulk-write records into their day's index (created on first use); how many were written."""
    by_index: dict[str, list[bytes]] = {}
    for record in found:
        index = feature_log_index(dt.datetime.fromtimestamp(record.now_millis / 1000, dt.UTC))
        doc_id = f"{record.featureset}:{record.query_id}:{record.product_id}"  # a new set logs beside the old
        by_index.setdefault(index, []).append(index_action(index, doc_id, msgspec.to_builtins(record)))
    written = 0
    for index, actions in by_index.items():
        if not engine.index_exists(index):
            engine.create_index(index, MAPPING)
        engine.bulk(b"".join(actions))
        written += len(actions)
    return written


WindowOf = Callable[[SearchRequest], Any]
"""`SearchService.feature_window`: typed loosely here, because the service imports this package; its
`FeatureWindow` likewise, read by attribute: context, product_ids, ranking_version, model_version,
vectors."""


class FeatureLog:
    def __init__(
        self,
        engine: SearchEngine,
        extractor: FeatureExtractor,
        window_of: WindowOf,
        share: float,
    ) -> None:
        self._engine = engine
        self._extractor = extractor
        self._window_of = window_of
        self.share = share
        self._queue: queue.Queue[tuple[str, str, Any] | None] = queue.Queue(QUEUE_CAPACITY)
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    @property
    def featureset(self) -> str:
        return self._extractor.featureset.name

    def sampled(self, request: SearchRequest, query_id: str) -> bool:
        """Shoppers who opted out of tracking are not logged (their searches join no events)."""
        return self.share > 0 and request.track and bucket(SALT, query_id) < self.share

    def offer(self, query: str, query_id: str, window: Any) -> None:
        """Called on the request path with a sampled search's window: a queue put."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ltr-feature-log", daemon=True)
            self._thread.start()
        try:
            self._idle.clear()
            self._queue.put_nowait((query, query_id, window))
        except queue.Full:
            LTR_FEATURE_LOG.labels("dropped").inc()

    def log_now(self, request: SearchRequest, query_id: str, source: Source = "live") -> int:
        """Re-run one search and write its records, in this thread (replays)."""
        return self._write(request.q, query_id, self._window_of(request), source)

    def _write(self, query: str, query_id: str, window: Any, source: Source) -> int:
        vectors: FeatureVectors | None = window.vectors
        if vectors is None or any(p not in vectors.vectors for p in window.product_ids):
            vectors = self._extractor.extract(window.context, window.product_ids)
        found = records(
            query_id,
            query,
            window.product_ids,
            vectors,
            window.context.now_millis,
            window.ranking_version,
            window.model_version,
            source,
        )
        return write_records(self._engine, found)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            query, query_id, window = item
            try:
                self._write(query, query_id, window, "live")
                LTR_FEATURE_LOG.labels("logged").inc()
            except Exception as exc:  # measurements: never let one search stop the logging
                LTR_FEATURE_LOG.labels("failed").inc()
                log.warning("features not logged", extra={"query_id": query_id, "error": repr(exc)})
            finally:
                if self._queue.empty():
                    self._idle.set()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every offered search is logged (tests, shutdown)."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)


def logged_vectors(engine: SearchEngine, query_id: str) -> Mapping[str, FeatureRecord]:
    """The records of one logged search, by product."""
    found = engine.search(
        f"{INDEX_PREFIX}-*",
        {"size": 1000, "query": {"term": {"query_id": query_id}}},
    )
    return {h.source["product_id"]: msgspec.convert(h.source, FeatureRecord) for h in found.hits}

"""The record of each personal recommendation answer (docs/experiments.md#exposure): what a shopper
was shown, by which strategy and model, under which experiments, and how long it took.

Records have the UBI query record's shape (`query_id`, `user_id`, `session_id`, `application`,
`timestamp`, `query_response_hit_ids`, `query_attributes`) so that UBI events join them the same way,
by `query_id` (the answer's `request_id`), and an experiment's readout reads either kind alike. They
live in their own index, not in `ubi_queries`: every reader of that index (suggestions, synonym
mining, replay, COEC, data quality, the workbench's lists) treats a record as a typed search.

Written in batches by a timer thread every 0.25 s (quarry/index_batches.py; only a request that
fills a batch of 500 writes it itself): a lost batch loses measurements, never an answer. A
shopper who opted out of tracking is recorded without user and session ids, as their searches
are. Erasure and export (quarry/user_data.py) and retention (`retention` job, the query log's
window) cover the index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from quarry.adapters.search_engine import SearchEngine
from quarry.index_batches import IndexBatches
from quarry.ubi import ubi_timestamp

INDEX = "quarry-recommendations"
BATCH = 500
FLUSH_S = 0.25
APPLICATION = "quarry-recommendations"
MAPPING: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": False,
        "properties": {
            "query_id": {"type": "keyword"},
            "user_id": {"type": "keyword"},
            "session_id": {"type": "keyword"},
            "application": {"type": "keyword"},
            "query_response_hit_ids": {"type": "keyword", "index": False},
            "query_attributes": {"type": "flat_object"},
            "timestamp": {"type": "date"},
        },
    },
}


class RecommendationLog:
    def __init__(self, engine: SearchEngine | None) -> None:
        """`engine`: the UBI (analytics) cluster; None records nothing."""
        # Written within FLUSH_S, as the query log's 250 ms: an erasure waits about a second for
        # what the workers still hold before it deletes (quarry/user_data.py).
        self._records = IndexBatches(engine, INDEX, MAPPING, every=BATCH, after_s=FLUSH_S)

    def record(
        self,
        *,
        request_id: str,
        user_id: str | None,
        session_id: str | None,
        items: Sequence[str],
        attributes: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        document: dict[str, Any] = {
            "query_id": request_id,
            "application": APPLICATION,
            "query_response_hit_ids": list(items),
            "query_attributes": {"total": len(items), **attributes},
            "timestamp": ubi_timestamp(now),
        }
        if user_id:
            document["user_id"] = user_id
        if session_id:
            document["session_id"] = session_id
        self._records.add(document, doc_id=request_id)

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()

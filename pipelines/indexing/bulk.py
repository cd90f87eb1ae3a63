"""Streaming bulk indexing: chunks of the catalog through `quarry.bulk.send_with_retry`, which decides
what is retried and what is reported; nothing is dropped without a `BulkFailure`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

import msgspec
from tqdm import tqdm

from quarry.adapters.search_engine import SearchEngine, index_action
from quarry.bulk import BulkFailure, send_with_retry


class BulkStats(msgspec.Struct):
    sent: int = 0
    indexed: int = 0
    retries: int = 0
    failures: list[BulkFailure] = msgspec.field(default_factory=list)
    seconds: float = 0.0

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds else 0.0


T = TypeVar("T")


def chunks(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def bulk_index_actions(
    engine: SearchEngine,
    actions: Iterable[tuple[str, bytes]],
    *,
    chunk_size: int = 1000,
    max_retries: int = 5,
    initial_backoff_s: float = 0.5,
    total: int | None = None,
    description: str = "bulk",
) -> BulkStats:
    """Send pre-encoded `(doc_id, action)` pairs in chunks; never drops one without a `BulkFailure`."""
    stats = BulkStats()
    started = time.perf_counter()
    with tqdm(total=total, desc=description, unit="doc", disable=None, mininterval=0.5) as bar:
        for items in chunks(actions, chunk_size):
            indexed, retries, failures = send_with_retry(engine.bulk, items, max_retries, initial_backoff_s)
            stats.sent += len(items)
            stats.indexed += indexed
            stats.retries += retries
            stats.failures.extend(failures)
            bar.update(len(items))
    stats.seconds = time.perf_counter() - started
    return stats


def bulk_index(
    engine: SearchEngine,
    index: str,
    documents: Iterable[tuple[str, dict[str, Any]]],
    *,
    chunk_size: int,
    max_retries: int,
    initial_backoff_s: float,
    total: int | None = None,
    description: str = "indexing",
) -> BulkStats:
    """Index `(doc_id, document)` pairs."""
    return bulk_index_actions(
        engine,
        ((doc_id, index_action(index, doc_id, doc)) for doc_id, doc in documents),
        chunk_size=chunk_size,
        max_retries=max_retries,
        initial_backoff_s=initial_backoff_s,
        total=total,
        description=description,
    )

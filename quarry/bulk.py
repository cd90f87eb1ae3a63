"""Bulk requests with retries: the part of every write path that decides what is lost and what is not.

`send_with_retry` is pure (the transport and the clock are parameters), so its retry rules are unit
tested without a cluster; catalog indexing and event ingestion both use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from quarry.adapters.search_engine import BulkResponse, SearchEngineError


class BulkFailure(msgspec.Struct, frozen=True):
    """A document OpenSearch did not accept, with the reason it gave (or that retries ran out)."""

    doc_id: str
    status: int | None
    reason: str


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def send_with_retry(
    send: Callable[[bytes], BulkResponse],
    items: list[tuple[str, bytes]],
    max_retries: int,
    initial_backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, int, list[BulkFailure]]:
    """Send one chunk; retry the whole request on transport errors, and only the rejected items on
    per-item 429/5xx. Returns (indexed, retries, failures); every item ends indexed or in failures."""
    pending = items
    retries = 0
    indexed = 0
    failures: list[BulkFailure] = []
    while pending:
        try:
            response = send(b"".join(line for _, line in pending))
        except SearchEngineError as exc:
            if not exc.retryable or retries >= max_retries:
                raise
            sleep(initial_backoff_s * 2**retries)
            retries += 1
            continue
        if len(response.items) != len(pending):
            raise SearchEngineError(f"bulk answered {len(response.items)} items for {len(pending)} sent")
        again: list[tuple[str, bytes]] = []
        for (doc_id, line), result in zip(pending, response.items, strict=True):
            if 200 <= result.status < 300:
                indexed += 1
            elif _retryable(result.status) and retries < max_retries:
                again.append((doc_id, line))
            else:
                reason = result.error or f"status {result.status}"
                if _retryable(result.status):
                    reason = f"gave up after {max_retries} retries: {reason}"
                failures.append(BulkFailure(doc_id=doc_id, status=result.status, reason=reason))
        if again:
            sleep(initial_backoff_s * 2**retries)
            retries += 1
        pending = again
    return indexed, retries, failures

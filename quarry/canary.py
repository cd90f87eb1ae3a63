"""Canary traffic: which shoppers the registry's `canary` version serves, and the per-request record
its guardrails are judged on (docs/model-lifecycle.md#canary).

- **Assignment** is a hash of the canary's version and the shopper's id (user, else session): the
  same shopper gets the same variant on every request, worker and API instance while that canary
  lives, and each new canary draws a different set of shoppers, so the same people are not always
  the ones trying new models. A request with neither id is served by the champion.
- **Records**: while a canary is live, every request it could have served is recorded in
  `quarry-canary` with its variant, latency, outcome and result count, for canary and champion
  traffic alike: the guardrails compare the two over the same window. The request id is the one the
  response carries; a frontend sends it as the `query_id` of its UBI events, which is how clicks and
  add-to-carts are credited to a variant. `unit` is the shopper, hashed with the canary's version:
  the guardrails group requests by it, because one shopper's requests are not independent
  (pipelines/registry/canary.py). It is pseudonymous, not anonymous: whoever has the pseudonym and
  the version can recompute it (which is how an erasure finds the records). A shopper who opted
  out of tracking is recorded as a unit of their own request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from quarry.adapters.search_engine import SearchEngine
from quarry.index_batches import IndexBatches
from quarry.metrics import CANARY_REQUESTS

INDEX = "quarry-canary"
FLUSH_S = 0.25
MAPPING: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": False,
        "properties": {
            "request_id": {"type": "keyword"},
            "unit": {"type": "keyword"},
            "artifact": {"type": "keyword"},
            "canary_version": {"type": "keyword"},
            "variant": {"type": "keyword"},
            "served_version": {"type": "keyword"},
            "strategy": {"type": "keyword"},
            "outcome": {"type": "keyword"},
            "results": {"type": "integer"},
            "latency_ms": {"type": "float"},
            "at": {"type": "date"},
        },
    },
}
OK, EMPTY, ERROR = "ok", "empty", "error"
"""A request's outcome: results, no results, or the variant failed (a canary that fails is answered
by the champion; the failure is still the canary's)."""


def bucket(salt: str, subject: str) -> float:
    """A uniform, stable number in [0, 1) for this subject under this salt."""
    digest = hashlib.blake2b(f"{salt}\x1f{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def unit_of(canary_version: str, subject: str) -> str:
    digest = hashlib.blake2b(f"unit\x1f{canary_version}\x1f{subject}".encode(), digest_size=8).hexdigest()
    return f"shopper:{digest}"


class CanaryTraffic:
    """The service's side of a canary: assignment and records. A share of 0 turns canaries off
    (the alias is then ignored by the service)."""

    def __init__(self, engine: SearchEngine | None, share: float) -> None:
        self.share = share
        # Written within a quarter second, as the answer records: an erasure waits about a second for
        # what the workers still hold before it deletes the shopper's units (quarry/user_data.py).
        self._records = IndexBatches(engine, INDEX, MAPPING, after_s=FLUSH_S)

    def assigned(self, canary_version: str, subject: str | None) -> bool:
        return subject is not None and self.share > 0 and bucket(canary_version, subject) < self.share

    def record(
        self,
        *,
        request_id: str,
        artifact: str,
        canary_version: str,
        subject: str | None,
        variant: str,
        served_version: str | None,
        strategy: str,
        outcome: str,
        results: int,
        latency_s: float,
    ) -> None:
        CANARY_REQUESTS.labels(artifact, variant, outcome).inc()
        self._records.add(
            {
                "request_id": request_id,
                # A request without a shopper is a unit of its own.
                "unit": unit_of(canary_version, subject) if subject else f"request:{request_id}",
                "artifact": artifact,
                "canary_version": canary_version,
                "variant": variant,
                "served_version": served_version,
                "strategy": strategy,
                "outcome": outcome,
                "results": results,
                "latency_ms": round(latency_s * 1000, 3),
                "at": dt.datetime.now(dt.UTC).isoformat(),
            },
            doc_id=request_id,
        )

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()

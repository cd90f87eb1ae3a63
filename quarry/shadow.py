"""How far a shadow model's answer is from the champion's, for the same request: what the promotion
gate's shadow stage judges (docs/model-lifecycle.md).

- overlap@10: the share of the champion's top 10 the shadow also returns in its top 10;
- rank correlation: Kendall's tau-b of the two rankings over the items both return (None with fewer
  than two in common: nothing to order);
- score drift: the mean absolute difference of the two scores of the items both return.

`ShadowRunner` computes them for a share of live requests, off the request path.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.index_batches import IndexBatches
from quarry.metrics import SHADOW_COMPARISONS, SHADOW_LATENCY, SHADOW_OVERLAP

log = logging.getLogger("quarry.shadow")


class ItemLike(Protocol):
    product_id: str
    score: float


class AnswerLike(Protocol):
    """What an answer offers the comparison: a recommendations response (api/recommendations/schemas.py)
    or a search window's order (quarry/ltr/serving.py)."""

    @property
    def strategy(self) -> str: ...

    @property
    def model_version(self) -> str | None: ...

    @property
    def items(self) -> list[Any]: ...


TOP = 10


class ShadowComparison(msgspec.Struct, frozen=True):
    overlap_at_10: float
    rank_correlation: float | None
    score_drift: float | None
    common: int


def compare(champion: list[tuple[str, float]], shadow: list[tuple[str, float]]) -> ShadowComparison:
    """Both rankings best first, as (item, score)."""
    top_champion = [item for item, _ in champion[:TOP]]
    top_shadow = {item for item, _ in shadow[:TOP]}
    overlap = len([i for i in top_champion if i in top_shadow]) / max(1, len(top_champion))
    shadow_rank = {item: n for n, (item, _) in enumerate(shadow)}
    shadow_score = dict(shadow)
    common = [
        (n, shadow_rank[item], score, shadow_score[item])
        for n, (item, score) in enumerate(champion)
        if item in shadow_rank
    ]
    correlation: float | None = None
    if len(common) >= 2:
        # Imported here: scipy.stats takes seconds to import, and this runs off the request path
        # only; every API worker would pay it at start-up.
        from scipy.stats import kendalltau

        tau = kendalltau([c[0] for c in common], [c[1] for c in common]).statistic
        correlation = None if tau != tau else round(float(tau), 6)  # NaN: all ranks tied
    drift = round(sum(abs(c[2] - c[3]) for c in common) / len(common), 6) if common else None
    return ShadowComparison(round(overlap, 6), correlation, drift, len(common))


INDEX = "quarry-shadow"
"""One document per shadow comparison: what the promotion gate's shadow stage reads."""
MAPPING: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": False,
        "properties": {
            "artifact": {"type": "keyword"},
            "shadow_version": {"type": "keyword"},
            "champion_version": {"type": "keyword"},
            "strategy": {"type": "keyword"},
            "outcome": {"type": "keyword"},
            "overlap_at_10": {"type": "float"},
            "rank_correlation": {"type": "float"},
            "score_drift": {"type": "float"},
            "latency_ms": {"type": "float"},
            "at": {"type": "date"},
        },
    },
}
QUEUE = 64


class ShadowRunner:
    """Runs shadow computations on one thread of its own, after the response has been computed:
    never on the request path, never changing a response. A full queue drops the comparison (and
    counts it) rather than making anyone wait. Results go to Prometheus at once and to the
    `quarry-shadow` index in batches (quarry/index_batches.py)."""

    def __init__(self, engine: SearchEngine | None, share: float) -> None:
        self.share = share
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._inflight = 0
        self._idle = threading.Condition()
        self._records = IndexBatches(engine, INDEX, MAPPING)

    def sampled(self) -> bool:
        return self.share > 0 and random.random() < self.share  # noqa: S311 - sampling, not secrets

    def submit(
        self,
        artifact: str,
        shadow_version: str,
        champion: AnswerLike,
        compute: Callable[[], AnswerLike],
    ) -> bool:
        """False when the queue was full (the comparison is dropped)."""
        with self._idle:
            if self._inflight >= QUEUE:
                SHADOW_COMPARISONS.labels(artifact, "dropped").inc()
                return False
            self._inflight += 1
        self._executor.submit(self._run, artifact, shadow_version, champion, compute)
        return True

    def _run(
        self,
        artifact: str,
        shadow_version: str,
        champion: AnswerLike,
        compute: Callable[[], AnswerLike],
    ) -> None:
        try:
            started = time.perf_counter()
            document: dict[str, Any] = {
                "artifact": artifact,
                "shadow_version": shadow_version,
                "champion_version": champion.model_version,
                "strategy": champion.strategy,
                "at": dt.datetime.now(dt.UTC).isoformat(),
            }
            try:
                shadow = compute()
            except Exception as exc:  # a shadow that fails is evidence, not an outage
                SHADOW_COMPARISONS.labels(artifact, "error").inc()
                log.warning(
                    "shadow version failed",
                    extra={"artifact": artifact, "version": shadow_version, "error": repr(exc)},
                )
                self._keep({**document, "outcome": "error"})
                return
            latency = time.perf_counter() - started
            result = compare(
                [(i.product_id, i.score) for i in champion.items],
                [(i.product_id, i.score) for i in shadow.items],
            )
            SHADOW_COMPARISONS.labels(artifact, "compared").inc()
            SHADOW_OVERLAP.labels(artifact).observe(result.overlap_at_10)
            SHADOW_LATENCY.labels(artifact).observe(latency)
            self._keep(
                {
                    **document,
                    "outcome": "compared",
                    "latency_ms": round(latency * 1000, 3),
                    **msgspec.to_builtins(result),
                }
            )
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _keep(self, document: dict[str, Any]) -> None:
        self._records.add(document)

    def flush(self) -> None:
        self._records.flush()

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for queued comparisons, then flush (tests, shutdown)."""
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=timeout_s)
        self.flush()

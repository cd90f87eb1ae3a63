"""What serving a learned ranker adds to an uncached search, for `make bench-search`: the same API
with and without an `ltr` champion, in the same rounds (docs/ltr.md#serving). The champion is the
newest registered version of the configured feature set, served from a copy of the model store in
which it is champion (every other artifact linked, not copied), so the measured store is not
changed."""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import msgspec

from pipelines.ltr.scratch_store import newest_model, with_champion
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.ltr.ranker import ARTIFACT
from quarry.settings import Settings

GOAL_MS = 1.5
"""Issue 17: serving adds at most 1.5 ms of CPU per uncached search."""


class Row(Protocol):
    system: str
    client: str
    concurrency: int
    p50_ms: float
    api_cpu_ms: float | None
    opensearch_cpu_ms: float | None
    round: int | None


class LtrCost(msgspec.Struct, frozen=True):
    version: str
    rounds: int
    api_cpu_ms: float
    """Median over the concurrency-16 rounds of (with LTR - without), API CPU per search."""
    opensearch_cpu_ms: float
    p50_ms_c1: float
    """The concurrency-1 p50 with LTR minus without (wrk)."""
    within_goal: bool


@contextmanager
def champion_store(settings: Settings) -> Iterator[tuple[Path, str] | None]:
    """(a model store with the newest LTR model as champion, its version); None without a model
    (`make train-ltr` makes one)."""
    version = newest_model(LocalArtifactStore(settings.artifacts_dir), settings.ltr_featureset)
    if version is None:
        yield None
        return
    with with_champion(settings, version) as store:
        yield store.root, version


def measure(rows: Sequence[Row], with_ltr: str, without: str, version: str) -> LtrCost | None:
    """From the wrk rows: the concurrency-16 rounds pairwise (each round runs both), and the
    concurrency-1 runs."""
    by = {(r.system, r.concurrency, r.round): r for r in rows if r.client == "wrk"}
    api, opensearch = [], []
    for (system, concurrency, number), row in by.items():
        other = by.get((without, concurrency, number))
        if system != with_ltr or concurrency != 16 or number is None or other is None:
            continue
        if None in (row.api_cpu_ms, row.opensearch_cpu_ms, other.api_cpu_ms, other.opensearch_cpu_ms):
            continue
        api.append((row.api_cpu_ms or 0.0) - (other.api_cpu_ms or 0.0))
        opensearch.append((row.opensearch_cpu_ms or 0.0) - (other.opensearch_cpu_ms or 0.0))
    single, single_without = by.get((with_ltr, 1, None)), by.get((without, 1, None))
    if not api or single is None or single_without is None:
        return None
    api_ms, opensearch_ms = statistics.median(api), statistics.median(opensearch)
    return LtrCost(
        version=version,
        rounds=len(api),
        api_cpu_ms=round(api_ms, 3),
        opensearch_cpu_ms=round(opensearch_ms, 3),
        p50_ms_c1=round(single.p50_ms - single_without.p50_ms, 2),
        within_goal=api_ms + opensearch_ms <= GOAL_MS,
    )


def table(cost: LtrCost | None, with_ltr: str, without: str) -> list[str]:
    if cost is None:
        return [
            f"LTR serving: not measured (no `{ARTIFACT}` model of the configured feature set; "
            "`make train-ltr` makes one).",
            "",
        ]
    return [
        f"What serving the learned ranker adds per uncached search: `{with_ltr}` (the same API with "
        f"`{ARTIFACT}` {cost.version} as champion: the features carried by the window's own requests "
        f"and the model over the top 100) minus `{without}`, median of {cost.rounds} concurrency-16 "
        f"rounds (each ran both), and the concurrency-1 p50. Goal: at most {GOAL_MS} ms of CPU "
        "(API + OpenSearch).",
        "",
        "| API CPU ms | OpenSearch CPU ms | sum ms | p50 ms at concurrency 1 | within goal |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {cost.api_cpu_ms:+.2f} | {cost.opensearch_cpu_ms:+.2f} | "
        f"{cost.api_cpu_ms + cost.opensearch_cpu_ms:+.2f} | {cost.p50_ms_c1:+.2f} | "
        f"{'yes' if cost.within_goal else 'NO'} |",
        "",
    ]

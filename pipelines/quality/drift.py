"""Feature drift as the population stability index (PSI) between a reference distribution and the
current one, over the reference's bins:

    PSI = sum over bins of (current - reference) * ln(current / reference)

with proportions floored at 1e-4 so that an empty bin does not make it infinite. Below 0.1 the
distributions agree; 0.1 to 0.25 is a moderate shift; above 0.25 a major one, which fails.

- popularity: products' `popularity_score`, against the same check's histogram of a day ago
  (kept in the results index with each result), so a sudden change of the features job shows;
- user affinity: the category weights of a sample of users (`feature:user:*:category_affinity` in
  Redis; each user's favourite is 1.0, the others their share of it), against the same check's
  histogram of a day ago, so a features job that starts writing flat or one-hot affinities shows;
- embedding norms: the vectors of the live FAISS artifact against the version before it, so an
  encoder that changed (or broke: unnormalized or zero vectors) shows before it serves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.cache import KeyValueStore
from quarry.adapters.search_engine import SearchEngine
from quarry.data_quality import CheckResult

PSI_FAIL = 0.25
BINS = 10
FLOOR = 1e-4


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Both proportions over the same bins (each summing to 1)."""
    total = 0.0
    for expected, actual in zip(reference, current, strict=True):
        e, a = max(expected, FLOOR), max(actual, FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def edges_of(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Inner bin edges at the reference's quantiles (repeated edges merged: many zeros make one bin)."""
    if values.size == 0:
        return []
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({round(float(q), 9) for q in quantiles})


def proportions(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of values per bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    if values.size == 0:
        return [0.0] * (len(edges) + 1)
    counts = np.bincount(np.searchsorted(np.asarray(edges), values, side="left"), minlength=len(edges) + 1)
    return [float(c) / values.size for c in counts]


def own_histogram(values: np.ndarray) -> dict[str, Any]:
    """What the next run compares against: these values' own bins and shares."""
    edges = edges_of(values)
    return {"edges": edges, "proportions": proportions(values, edges)}


def judged(
    check: str, target: str, reference: dict[str, Any] | None, current: np.ndarray, note: str
) -> CheckResult:
    """`reference`: a histogram (edges and proportions), or None when there is none yet."""
    base: dict[str, Any] = {
        "check": check,
        "target": target,
        "severity": "warning",
        "threshold": f"PSI <= {PSI_FAIL}",
    }
    if reference is None:
        return CheckResult(
            **base, status="skip", message=f"no reference yet ({note})", details=own_histogram(current)
        )
    value = psi(reference["proportions"], proportions(current, list(reference["edges"])))
    return CheckResult(
        **base,
        status="fail" if value > PSI_FAIL else "pass",
        observed=round(value, 6),
        message=f"PSI {value:.4f} against {note}",
        details=own_histogram(current),
    )


def field_values(engine: SearchEngine, alias: str, field: str) -> np.ndarray:
    values = [float(hit.source.get(field) or 0.0) for hit in engine.scan(alias, fields=[field])]
    return np.asarray(values, dtype=np.float64)


def popularity_drift(engine: SearchEngine, alias: str, reference: dict[str, Any] | None) -> CheckResult:
    """`reference`: the histogram this check kept with its result of a day ago."""
    current = field_values(engine, alias, "popularity_score")
    return judged("drift_popularity", alias, reference, current, "the result of a day ago")


AFFINITY_SAMPLE = 5000
"""Users whose affinities are read per run: enough for ten bins, a few milliseconds of Redis."""


def affinity_values(kv: KeyValueStore, pattern: str, limit: int = AFFINITY_SAMPLE) -> np.ndarray:
    weights: list[float] = []
    for raw in kv.sample_matching(pattern, limit):
        try:
            weights += [float(w) for w in msgspec.json.decode(raw, type=dict[str, float]).values()]
        except msgspec.DecodeError:
            continue  # not an affinity object: the schema is another check's business
    return np.asarray(weights, dtype=np.float64)


def affinity_drift(kv: KeyValueStore, pattern: str, reference: dict[str, Any] | None) -> CheckResult:
    """`pattern`: the affinity keys (quarry/redis_keys.py user_affinity_key("*")); `reference`: the
    histogram this check kept with its result of a day ago."""
    current = affinity_values(kv, pattern)
    return judged("drift_affinity", pattern, reference, current, "the result of a day ago")


def vector_norms(store: ArtifactStore, artifact: str, version: str) -> np.ndarray:
    import faiss

    from quarry.vector_index import INDEX_FILE

    index = faiss.deserialize_index(np.frombuffer(store.read(artifact, version, INDEX_FILE), dtype=np.uint8))
    vectors = index.reconstruct_n(0, index.ntotal)
    norms: np.ndarray = np.linalg.norm(vectors, axis=1).astype(np.float64)
    return norms


def embedding_norm_drift(store: ArtifactStore, artifact: str) -> CheckResult:
    versions = store.versions(artifact)
    current = store.current(artifact)
    if current is None:
        return CheckResult(
            check="drift_embedding_norms",
            target=artifact,
            severity="warning",
            status="skip",
            message="no artifact",
        )
    earlier = [v for v in versions if v < current]
    reference = own_histogram(vector_norms(store, artifact, earlier[-1])) if earlier else None
    note = f"version {earlier[-1]}" if earlier else "no earlier version"
    target = f"{artifact}@{current}"
    return judged("drift_embedding_norms", target, reference, vector_norms(store, artifact, current), note)

"""Fusing keyword and semantic candidates into one relevance score in [0, 1] per product.

Normalization (docs/ranking.md#hybrid-relevance):
- keyword: BM25 min-max normalized within the keyword candidates (the best keyword match gets 1);
- semantic: cosine similarity of the query and product vectors, clipped to [0, 1]. It is computed
  exactly for every candidate from the FAISS artifact's vectors, including keyword-only candidates,
  so no document gets a made-up semantic score;
- a product that the keyword query did not return has no keyword score (None), not 0: min-max would
  turn "absent" into "worst", which is the known pitfall. `max` fusion takes the best of the
  components a product has; RRF sums 1/(k + rank) over the lists it appears in (absent = no term),
  scaled by the best possible sum so it also lies in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

from quarry.adapters.search_engine import Hit

Fusion = Literal["max", "rrf", "weighted"]


class Relevance(msgspec.Struct, frozen=True):
    keyword: float | None
    semantic: float | None
    fused: float


class FusedCandidate(msgspec.Struct, frozen=True):
    hit: Hit
    relevance: Relevance


def keyword_normalized(hits: Sequence[Hit]) -> dict[str, float]:
    scores = [h.score or 0.0 for h in hits]
    if not scores:
        return {}
    low, high = min(scores), max(scores)
    # A window whose scores are all equal (one hit, or a match_all) has no text signal to spread.
    return {
        h.id: ((s - low) / (high - low) if high > low else 1.0) for h, s in zip(hits, scores, strict=True)
    }


def _ranks(scores: Mapping[str, float]) -> dict[str, int]:
    ordered = sorted(scores, key=lambda pid: scores[pid], reverse=True)
    return {pid: rank for rank, pid in enumerate(ordered, start=1)}


def fuse(
    keyword_hits: Sequence[Hit],
    semantic_hits: Sequence[Hit],
    similarity: Mapping[str, float],
    method: Fusion,
    rrf_k: int = 60,
    keyword_weight: float = 0.5,
) -> list[FusedCandidate]:
    """Candidates in keyword order, then semantic-only ones in semantic order, each with its fused
    relevance. `similarity` holds the cosine per product id (exact where vectors are known)."""
    keyword = keyword_normalized(keyword_hits)
    semantic = {pid: min(1.0, max(0.0, s)) for pid, s in similarity.items()}
    seen: set[str] = set()
    candidates: list[Hit] = []
    for hit in (*keyword_hits, *semantic_hits):
        if hit.id not in seen:
            seen.add(hit.id)
            candidates.append(hit)
    keyword_rank: dict[str, int] = {}  # ranks only RRF needs
    semantic_rank: dict[str, int] = {}
    if method == "rrf":
        keyword_rank = {h.id: rank for rank, h in enumerate(keyword_hits, start=1)}
        # The semantic list is the whole window reranked by exact similarity (where vectors are known).
        semantic_rank = _ranks({h.id: semantic[h.id] for h in candidates if h.id in semantic})
    best_rrf = 2.0 / (rrf_k + 1)
    fused: list[FusedCandidate] = []
    for hit in candidates:
        kw, sem = keyword.get(hit.id), semantic.get(hit.id)
        if method == "max":
            value = max(v for v in (kw, sem, 0.0) if v is not None)
        elif method == "weighted":
            # Below the keyword window's lowest score, which min-max maps to 0: 0 is an upper bound.
            value = keyword_weight * (kw or 0.0) + (1.0 - keyword_weight) * (sem or 0.0)
        else:
            total = sum(1.0 / (rrf_k + r) for r in (keyword_rank.get(hit.id), semantic_rank.get(hit.id)) if r)
            value = total / best_rrf
        fused.append(FusedCandidate(hit=hit, relevance=Relevance(keyword=kw, semantic=sem, fused=value)))
    return fused


def keyword_only(hits: Sequence[Hit]) -> list[FusedCandidate]:
    """Relevance when there is no semantic side: the normalized keyword score."""
    keyword = keyword_normalized(hits)
    return [
        FusedCandidate(hit=h, relevance=Relevance(keyword=keyword[h.id], semantic=None, fused=keyword[h.id]))
        for h in hits
    ]

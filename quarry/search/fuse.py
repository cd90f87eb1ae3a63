"""Stage 3, fuse: the keyword window and the semantic candidates become one reranking window, each
candidate with its fused relevance (the normalization is `quarry.search.fusion`'s)."""

from __future__ import annotations

from dataclasses import dataclass, field

from quarry.adapters.search_engine import Hit
from quarry.search.fusion import FusedCandidate, fuse, keyword_only
from quarry.search.ranking import RankingConfig
from quarry.search.schemas import RetrievalInfo
from quarry.search.semantic import SemanticCandidates
from quarry.understanding.schemas import UnderstoodQuery


@dataclass(frozen=True, slots=True)
class CandidateWindow:
    """The window to rerank, how it was retrieved, and the components that were bypassed."""

    candidates: list[FusedCandidate]
    retrieval: RetrievalInfo
    degraded: list[str] = field(default_factory=list)


def fuse_window(
    keyword_hits: list[Hit],
    semantic: SemanticCandidates | None,
    config: RankingConfig,
    understood: UnderstoodQuery,
    descriptive: bool = False,
) -> CandidateWindow:
    """`semantic`: None when semantic retrieval is off or had no query vector (then `degraded` says
    so from the retriever's state, not from here). `descriptive`: the query describes a need
    (`is_descriptive`), so the keyword side gets its descriptive share."""
    if semantic is None:
        info = RetrievalInfo(mode="keyword", keyword_candidates=len(keyword_hits))
        return CandidateWindow(keyword_only(keyword_hits), info)
    keyword_side = keyword_hits if config.retrieval == "hybrid" else []
    fused = fuse(
        keyword_side,
        semantic.hits,
        semantic.similarity if semantic.relevance is None else semantic.relevance,
        config.fusion,
        config.rrf_k,
        config.keyword_weight_for(understood.entities, descriptive),
    )
    if keyword_side and semantic.hits:
        mode = "hybrid"
    elif semantic.hits:
        mode = "semantic"
    else:
        mode = "keyword"
    info = RetrievalInfo(
        mode=mode,
        keyword_candidates=len(keyword_side),
        semantic_candidates=len(semantic.hits),
        fusion=config.fusion if mode == "hybrid" else None,
        best_similarity=round(max(semantic.similarity.values()), 4) if semantic.similarity else None,
        categories=semantic.categories,
    )
    return CandidateWindow(fused, info, semantic.degraded)

"""Stage 6, present: the requested page of the ranked window (continued by the keyword results
beyond it), with titles, facets, explanations and how well the query matched."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from quarry.adapters.search_engine import Hit, SearchEngine
from quarry.search.match_quality import MatchSignals, MatchThresholds
from quarry.search.match_quality import quality as match_quality
from quarry.search.ranking import RankedHit, RankingConfig
from quarry.search.retrieve import RELAXED_MATCH
from quarry.search.schemas import (
    CachedPage,
    Facets,
    FacetValue,
    QueryInfo,
    RetrievalInfo,
    SearchRequest,
    SearchResult,
)
from quarry.understanding.schemas import UnderstoodQuery

log = logging.getLogger("api.search")

Tail = Callable[[int, int, tuple[str, ...]], list[Hit]]
"""The keyword results after the window: (offset, size, ids to leave out)."""


def _explanation_summary(explanation: dict[str, Any] | None) -> str | None:
    if not explanation:
        return None
    parts = [f"{explanation.get('value', 0):.3f} = {explanation.get('description', '')}"]
    for child in explanation.get("details", [])[:5]:
        parts.append(f"{child.get('value', 0):.3f} {child.get('description', '')[:120]}")
    return "; ".join(parts)


def facets(aggregations: dict[str, Any]) -> Facets:
    def buckets(name: str) -> list[FacetValue]:
        out = []
        for bucket in aggregations.get(name, {}).get("buckets", []):
            value = bucket.get("key_as_string", bucket.get("key"))
            if name == "price":
                low, high = bucket.get("from"), bucket.get("to")
                value = f"{low or 0:g}-{high:g}" if high is not None else f"{low:g}+"
            if bucket.get("doc_count", 0) or name != "price":
                out.append(FacetValue(value=str(value), count=int(bucket.get("doc_count", 0))))
        return out

    attributes = {name.split(":", 1)[1]: buckets(name) for name in aggregations if name.startswith("attr:")}
    return Facets(
        brand=buckets("brand"),
        category=buckets("category"),
        price=buckets("price"),
        in_stock=buckets("in_stock"),
        attributes={k: v for k, v in attributes.items() if v},
    )


def result(hit: Hit, score: float, ranked: RankedHit | None, explain: bool) -> SearchResult:
    source = hit.source
    breakdown = None
    if explain and ranked is not None:
        breakdown = msgspec.structs.replace(
            ranked.breakdown, opensearch_explanation=_explanation_summary(hit.explanation)
        )
    return SearchResult(
        product_id=str(source.get("product_id", hit.id)),
        title=source.get("title", ""),
        brand=source.get("brand", ""),
        category=source.get("category_path", ""),
        price=source.get("price"),
        rating=source.get("rating"),
        in_stock=bool(source.get("in_stock", False)),
        score=round(score, 6),
        score_breakdown=breakdown,
    )


class Presenter:
    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self._engine = engine
        self._alias = alias

    def relevance_page(
        self,
        ranked: list[RankedHit],
        keyword_hits: list[Hit],
        keyword_total: int,
        tail: Tail,
        request: SearchRequest,
    ) -> list[SearchResult]:
        """Relevance order is the reranked window, then the keyword results after the keyword window
        (without the window's semantic candidates), so page n+1 continues page n exactly."""
        start, end = (request.page - 1) * request.size, request.page * request.size
        window = ranked[start:end]
        if log.isEnabledFor(logging.DEBUG):
            for item in window:
                log.debug(
                    "ranking decision",
                    extra={
                        "product_id": item.hit.id,
                        "final_score": item.score,
                        "score_breakdown": msgspec.to_builtins(item.breakdown),
                    },
                )
        titled = self.with_titles([r.hit for r in window])
        results = [result(hit, r.score, r, request.explain) for hit, r in zip(titled, window, strict=True)]
        missing = end - start - len(window)
        if missing > 0 and keyword_total > len(keyword_hits):
            keyword_ids = {h.id for h in keyword_hits}
            semantic_only = tuple(r.hit.id for r in ranked if r.hit.id not in keyword_ids)
            offset = len(keyword_hits) + max(0, start - len(ranked))
            extra = self.with_titles(tail(offset, missing, semantic_only))
            results += [result(h, h.score or 0.0, None, request.explain) for h in extra]
        return results

    def sorted_page(self, hits: list[Hit], request: SearchRequest) -> list[SearchResult]:
        """An explicit sort: the engine's slice, as it came."""
        return [result(h, h.score or 0.0, None, request.explain) for h in self.with_titles(hits)]

    def with_titles(self, hits: list[Hit]) -> list[Hit]:
        """Titles over 512 characters have no `title.keyword` doc value: read those from `_source`, all
        of a page's in one request."""
        missing = [hit.id for hit in hits if "title" not in hit.source]
        if not missing:
            return hits
        body = {
            "size": len(missing),
            "_source": ["product_id", "title"],
            "query": {"terms": {"product_id": missing}},
        }
        titles = {
            str(h.source.get("product_id", h.id)): str(h.source.get("title", ""))
            for h in self._engine.search(self._alias, body).hits
        }
        return [
            hit
            if "title" in hit.source
            else msgspec.structs.replace(hit, source={**hit.source, "title": titles.get(hit.id, "")})
            for hit in hits
        ]


def cached_page(
    results: list[SearchResult],
    total: int,
    aggregations: dict[str, Any],
    understood: UnderstoodQuery,
    words: MatchSignals,
    keyword_total: int,
    fallback: str | None,
    retrieval: RetrievalInfo,
    degraded: list[str],
    config: RankingConfig,
) -> CachedPage:
    """The page as cached: results marked `related` when nothing matched, and the query as read.
    `keyword_total`: what the keyword side found (0: the keyword match failed)."""
    keyword_match = {None: "strict", "corrected": "corrected", RELAXED_MATCH: "relaxed"}.get(fallback, "none")
    if keyword_match == "strict" and keyword_total == 0:
        keyword_match = "none"
    found = msgspec.structs.replace(
        words, keyword_match=keyword_match, best_similarity=retrieval.best_similarity
    )
    thresholds = MatchThresholds(config.match_good_similarity, config.match_partial_similarity)
    quality = match_quality(found, len(results), thresholds)
    if quality == "none":  # whatever is shown is related, not a match
        results = [msgspec.structs.replace(r, related=True) for r in results]
    info = QueryInfo(
        original=understood.original,
        normalized=understood.normalized,
        corrected=understood.corrected,
        did_you_mean=understood.did_you_mean,
        intent=understood.intent,
        entities=understood.entities,
        spelling=list(understood.spelling),
        applied_filters=list(understood.filters),
    )
    return CachedPage(
        total=total,
        results=results,
        facets=facets(aggregations),
        query=info,
        fallback=fallback,
        retrieval=retrieval,
        degraded=degraded,
        match_quality=quality,
        match=found,
    )

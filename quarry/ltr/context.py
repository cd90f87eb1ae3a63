"""A search's feature context from what its stages found: the `sltr` params of the search, built in
one place for logging, replay, training and serving."""

from __future__ import annotations

import datetime as dt

from quarry.adapters.search_engine import Hit
from quarry.ltr.features import FeatureContext, template_params
from quarry.search.personalize import PersonalSignals
from quarry.search.ranking import RankedHit
from quarry.search.semantic import SemanticCandidates
from quarry.understanding.schemas import UnderstoodQuery


def reciprocal_ranks(hits: list[Hit]) -> dict[str, float]:
    ranks: dict[str, float] = {}
    for rank, hit in enumerate(hits, start=1):
        ranks.setdefault(hit.id, 1.0 / rank)
    return ranks


def feature_context(
    understood: UnderstoodQuery,
    keyword_hits: list[Hit],
    semantic: SemanticCandidates | None,
    signals: PersonalSignals,
    category_medians: dict[str, float],
    half_life_days: float,
    now: dt.datetime,
    ranked: list[RankedHit] | None = None,
) -> FeatureContext:
    """The text params as `template_params`. `ranked`: the formula's window, whose fused relevance
    and final score are features (the model starts from what the formula knows)."""
    return FeatureContext(
        **template_params(understood),
        now_millis=int(now.timestamp() * 1000),
        half_life_days=half_life_days,
        semantic=dict(semantic.similarity) if semantic is not None else {},
        als=dict(signals.products),
        session_categories=dict(signals.categories),
        keyword_ranks=reciprocal_ranks(keyword_hits),
        semantic_ranks=reciprocal_ranks(semantic.hits) if semantic is not None else {},
        category_medians=category_medians,
        fused_relevance={r.hit.id: r.relevance.fused for r in ranked or []},
        formula_scores={r.hit.id: r.score for r in ranked or []},
        category_fit=_category_fit(semantic, ranked or []),
    )


def _category_fit(semantic: SemanticCandidates | None, ranked: list[RankedHit]) -> dict[str, float]:
    """The fit of each window product's category to the query, by product id (a category without a
    prototype: left out, so 0)."""
    fit = semantic.category_fit() if semantic is not None else None
    if not fit:
        return {}
    paths = ((r.hit.id, str(r.hit.source.get("category_path") or "")) for r in ranked)
    return {pid: fit[path] for pid, path in paths if path in fit}

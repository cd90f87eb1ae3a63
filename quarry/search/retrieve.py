"""Stage 2, retrieve (keyword side): the BM25 window and the zero-result fallback chain. The semantic
side is `quarry.search.semantic.SemanticRetriever`; the two meet in `quarry.search.fusion`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from quarry.adapters.search_engine import Hit, SearchEngine
from quarry.adapters.search_engine import SearchResponse as EngineResponse
from quarry.search.candidates import from_docvalues
from quarry.search.query_builder import BodyScoring, search_body
from quarry.search.ranking import CategoryUse, RankingConfig
from quarry.search.schemas import SearchRequest
from quarry.search.semantic import SemanticCandidates, SemanticRetriever
from quarry.search.understand import without_sources
from quarry.tracing import span
from quarry.understanding.schemas import UnderstoodQuery

Scoring = Callable[[UnderstoodQuery], BodyScoring]
"""The features' scoring for a query understood so (its text params)."""

# The fallback step that found the window with a relaxed minimum_should_match.
RELAXED_MATCH = "relaxed_match"


@dataclass(frozen=True, slots=True)
class KeywordWindow:
    """What the keyword side found, and how: `fallback` names the step of the chain that found it
    (None: the query as understood), `understood` carries a correction that step applied, and
    `minimum_should_match` is the one the tail of a relevance page must use too."""

    response: EngineResponse
    hits: list[Hit]
    understood: UnderstoodQuery
    fallback: str | None
    minimum_should_match: str

    @property
    def partial_match(self) -> bool:
        """Only the relaxed match found anything: no product has the query's words together."""
        return self.fallback == RELAXED_MATCH


class KeywordRetriever:
    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self.engine = engine
        self.alias = alias

    def search(
        self,
        text: str,
        request: SearchRequest,
        understood: UnderstoodQuery,
        config: RankingConfig,
        msm: str,
        start: int | None = None,
        size: int | None = None,
        exclude_ids: tuple[str, ...] = (),
        with_facets: bool = True,
        scoring: BodyScoring | None = None,
    ) -> tuple[EngineResponse, list[Hit]]:
        """Relevance searches fetch the candidate window (start 0, `window` hits); explicit sorts and
        the tail beyond the window fetch the requested slice (the tail needs no facets). `scoring`:
        the hits also carry their LTR features."""
        relevance = request.sort == "relevance"
        if start is None:
            start = 0 if relevance else (request.page - 1) * request.size
        if size is None:
            size = config.window if relevance else request.size
        body = search_body(
            text,
            request,
            understood.entities,
            config,
            alternative=understood.expanded if text == understood.effective else None,
            start=start,
            size=size,
            minimum_should_match=msm,
            with_facets=with_facets,
            exclude_ids=exclude_ids,
        )
        with span("retrieve.keyword", {"quarry.minimum_should_match": msm}, one_call=True) as keyword:
            if scoring is not None:
                body = scoring(body)
            response = self.engine.search(self.alias, body, named_scores=scoring is not None)
            keyword.set_attribute("quarry.results", len(response.hits))
            keyword.set_attribute("quarry.total", response.total)
        return response, [from_docvalues(h) for h in response.hits]

    def retrieve(
        self,
        request: SearchRequest,
        understood: UnderstoodQuery,
        config: RankingConfig,
        scoring: Scoring | None = None,
    ) -> KeywordWindow:
        """The zero-result fallback chain: as understood, then the spelling correction even when it
        was not confident enough to apply, then a relaxed minimum_should_match. (Semantic candidates
        alone, the chain's last step, are the fusion's.) `request` already carries the query's own
        constraints (`with_query_filters`). `scoring`: the window's hits also carry their LTR
        features, scored for the query as each step understands it."""

        def scored(understood: UnderstoodQuery) -> BodyScoring | None:
            return scoring(understood) if scoring is not None else None

        strict = config.minimum_should_match
        response, hits = self.search(
            understood.effective, request, understood, config, strict, scoring=scored(understood)
        )
        fallback = None
        if response.total == 0 and not understood.corrected:
            correction = understood.did_you_mean or understood.fallback
            if correction:
                # The words that became filters ("under 30") are no text in the retry either.
                searched = without_sources(correction, understood.filters)
                retried = msgspec.structs.replace(
                    understood,
                    corrected=correction,
                    did_you_mean=None,
                    searched=searched if understood.filters else None,
                    expanded=None,
                )
                retry, retry_hits = self.search(
                    searched, request, understood, config, strict, scoring=scored(retried)
                )
                if retry.total:
                    response, hits, fallback, understood = retry, retry_hits, "corrected", retried
        if response.total == 0:
            relaxed = config.relaxed_minimum_should_match
            retry, retry_hits = self.search(
                understood.effective, request, understood, config, relaxed, scoring=scored(understood)
            )
            if retry.total:
                response, hits, fallback = retry, retry_hits, RELAXED_MATCH
        msm = config.relaxed_minimum_should_match if fallback == RELAXED_MATCH else strict
        return KeywordWindow(response, hits, understood, fallback, msm)

    def tail(
        self,
        window: KeywordWindow,
        request: SearchRequest,
        config: RankingConfig,
        offset: int,
        size: int,
        exclude: tuple[str, ...],
    ) -> list[Hit]:
        """The keyword results after the window, for a relevance page that reaches beyond it."""
        understood = window.understood
        return self.search(
            understood.effective,
            request,
            understood,
            config,
            window.minimum_should_match,
            offset,
            size,
            exclude,
            False,
        )[1]


def semantic_candidates(
    retriever: SemanticRetriever | None,
    text: str,
    request: SearchRequest,
    config: RankingConfig,
    keyword_hits: list[Hit],
    by_category: CategoryUse | None,
    scoring: BodyScoring | None = None,
) -> SemanticCandidates | None:
    """The semantic side of a relevance window; None when the configuration is keyword-only, there
    is no retriever, or there was no query vector. `scoring`: the hits also carry their LTR
    features."""
    if config.retrieval == "keyword" or retriever is None:
        return None
    with span("retrieve.semantic") as semantic_span:
        semantic = retriever.retrieve(
            text,
            request,
            config.window,
            config.semantic_floor(retriever.model),
            keyword_hits,
            by_category,
            scoring,
        )
        semantic_span.set_attribute("quarry.results", len(semantic.hits) if semantic else 0)
    return semantic

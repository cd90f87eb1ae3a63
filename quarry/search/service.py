"""The search orchestrator: the stages in order, understand -> retrieve (keyword, semantic) -> fuse
-> rerank -> personalize -> present -> log, with the result cache around the middle and the
fallbacks between them. Each stage is a module of `quarry.search` with one entry point; this module
only sequences them (docs/architecture.md#the-search-core)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

import msgspec

from quarry.adapters.search_engine import Hit, SearchEngine, SearchEngineError
from quarry.canary import EMPTY, ERROR, OK
from quarry.experiments.definitions import Changes
from quarry.experiments.interleaving import A, B, team_draft
from quarry.experiments.live import Exposure, LiveExperiments, changed, merged
from quarry.ids import random_uuid
from quarry.logs import bind
from quarry.ltr.context import feature_context
from quarry.ltr.feature_log import FeatureLog
from quarry.ltr.features import FeatureContext, FeatureExtractor, FeatureVectors
from quarry.ltr.ranker import ARTIFACT as LTR_ARTIFACT
from quarry.ltr.serving import FORMULA, LtrAssignment, LtrRescorer
from quarry.privacy import ShopperPrivacy
from quarry.query_log import QueryLogWriter
from quarry.search.cache import SearchCache, cache_key
from quarry.search.catalog_version import CatalogVersion
from quarry.search.client_ids import ClientQueryIds
from quarry.search.exploration import PositionExploration
from quarry.search.fuse import CandidateWindow, fuse_window
from quarry.search.match_quality import MatchSignals, known_share
from quarry.search.match_quality import signals as match_signals
from quarry.search.personalize import Personalizer, PersonalSignals
from quarry.search.present import Presenter, cached_page
from quarry.search.query_logging import count, log_query
from quarry.search.ranking import RankedHit, RankingConfig, RankingSource, is_descriptive
from quarry.search.rerank import rerank
from quarry.search.retrieve import KeywordRetriever, KeywordWindow, semantic_candidates
from quarry.search.schemas import (
    CachedPage,
    ResponseExt,
    RetrievalInfo,
    SearchRequest,
    SearchResponse,
    UbiResponse,
)
from quarry.search.semantic import SemanticCandidates, SemanticRetriever
from quarry.search.understand import understand, with_query_filters
from quarry.text import tokens
from quarry.tracing import current_span, span
from quarry.understanding.schemas import UnderstoodQuery
from quarry.understanding.services import QueryUnderstanding

log = logging.getLogger("api.search")

MAX_RESULT_WINDOW = 10_000


FEATURE_WINDOW = 100
"""Products of the ranked window whose features are logged (and rescored by an LTR model)."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """What stages 2 to 5 found for one request."""

    keyword: KeywordWindow
    words: MatchSignals
    semantic: SemanticCandidates | None
    window: CandidateWindow
    signals: PersonalSignals = field(default_factory=PersonalSignals)
    ranked: list[RankedHit] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    context: FeatureContext | None = None
    """The LTR feature context, from the formula's window: built when a model rescored or the
    search's features are to be logged."""
    vectors: FeatureVectors | None = None
    """The features the model scored, when one did."""


@dataclass(frozen=True, slots=True)
class FeatureWindow:
    """A search's ranked window (product ids, best first), its feature context, and the ranking
    configuration that ordered it."""

    context: FeatureContext
    product_ids: list[str]
    ranking_version: str
    departments: list[str] = field(default_factory=list)
    """Each product's top-level category, in `product_ids` order."""
    model_version: str = FORMULA
    """The LTR model that ordered the window, or the formula."""
    vectors: FeatureVectors | None = None
    """The features the model scored, when one did: logged as they were, not computed again."""


def search_clock() -> dt.datetime:
    """Now, to the millisecond: the precision a feature log keeps, so that a window recomputed at
    its logged time sees the very clock it was ranked with."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class PageTooDeepError(ValueError):
    """page * size beyond the 10,000-result window."""


class SearchService:
    def __init__(
        self,
        engine: SearchEngine,
        alias: str,
        understanding: QueryUnderstanding,
        ranking: RankingSource,
        cache: SearchCache,
        personalizer: Personalizer,
        query_log: QueryLogWriter,
        semantic: SemanticRetriever | None = None,
        query_ids: ClientQueryIds | None = None,
        *,
        privacy: ShopperPrivacy,
        features: FeatureExtractor | None = None,
        ltr: LtrRescorer | None = None,
        experiments: LiveExperiments | None = None,
        exploration: PositionExploration | None = None,
    ) -> None:
        """`exploration`: the live API's position-bias exploration (offline code shows pages as
        ranked). `privacy`: how the controller turns a request's shopper into pseudonyms and consent; held
        here, not injected beside the service, because a second dependency makes Litestar resolve
        them in an anyio task group on every request (4 % of a cached search's CPU, py-spy)."""
        self.privacy = privacy
        self.features = features
        self.ltr = ltr
        self.experiments = experiments
        self.exploration = exploration
        self.feature_log: FeatureLog | None = None  # set once built: it calls `feature_window`
        self.semantic = semantic
        self.query_ids = query_ids
        self.understanding = understanding
        self.ranking = ranking
        self.cache = cache
        self.personalizer = personalizer
        self.query_log = query_log
        self.keyword = KeywordRetriever(engine, alias)
        self.presenter = Presenter(engine, alias)
        self.catalog_version = CatalogVersion(engine, alias)

    def _ranked(
        self,
        request: SearchRequest,
        understood: UnderstoodQuery,
        config: RankingConfig,
        now: dt.datetime,
        served: LtrAssignment | None = None,
        with_context: bool = False,
        shadowed: bool = True,
    ) -> Ranked:
        """Stages 2 to 5 for a request that already carries the query's own constraints: the keyword
        window with its fallback chain, the semantic candidates, the fused window, and (relevance
        order only) the window reranked and personalized. `now` is the one clock of the search:
        the formula's freshness and the LTR features read it, so a logged window can be recomputed
        exactly at its logged time. `served`: the learned model that ranks (None or its `model`
        None: the formula). `with_context`: build the feature context even when no model rescores
        (the search's window is to be logged)."""
        learned = served is not None and served.model is not None and request.sort == "relevance"
        # A model's window takes its features from the window's own requests (no request of its own).
        scoring = self.features.scoring if learned and self.features is not None else None
        keyword = self.keyword.retrieve(request, understood, config, scoring)
        understood = keyword.understood
        # The query's words against the shop's vocabulary, counted once: they set the fusion weight
        # and match quality ("waterbottle" read as its expansion "water bottle").
        searched_words = tokens(understood.expanded or understood.effective)
        words = match_signals(searched_words, self.understanding.catalog_knows, "none", None)
        if request.sort != "relevance":
            return Ranked(keyword, words, None, CandidateWindow([], RetrievalInfo(mode="keyword")))
        descriptive = is_descriptive(
            words.shop_word_share, words.content_words, keyword.partial_match, understood.entities
        )
        by_category = config.category_use(
            descriptive, lambda: known_share(searched_words, self.understanding.knows)
        )
        semantic = semantic_candidates(
            self.semantic,
            understood.effective,
            request,
            config,
            keyword.hits,
            by_category,
            scoring(understood) if scoring is not None else None,
        )
        window = fuse_window(keyword.hits, semantic, config, understood, descriptive)
        signals = self.personalizer.signals(request, [c.hit.id for c in window.candidates])
        reranked = rerank(window, config, now) if window.candidates else []
        ranked = self.personalizer.personalize(reranked, signals) if reranked else []
        degraded: list[str] = []
        context, vectors = None, None
        learned = learned and bool(ranked)
        # A preview (`shadowed` False) is no shopper's search: the shadow's comparisons leave it out.
        shadow = (
            self.ltr.shadow_for(served) if shadowed and self.ltr is not None and served and ranked else None
        )
        if learned or with_context or shadow:
            try:
                context = self._feature_context(keyword, semantic, signals, config, ranked, now)
                if learned and self.ltr is not None and served is not None:
                    with span("rerank.ltr", {"quarry.candidates": min(len(ranked), self.ltr.window)}):
                        ranked, vectors = self.ltr.rescore(ranked, context, request.explain, served)
                if shadow is not None and self.ltr is not None and served is not None:
                    self.ltr.shadow(served, ranked, context, vectors, shadow)
            except Exception as exc:  # any model or feature failure: the formula's order stands
                if learned:
                    log.warning("LTR rescoring failed; the formula ranks", extra={"error": repr(exc)})
                    degraded.append("ltr")
                else:  # a window not logged is no reason to fail its search
                    log.warning("LTR feature context failed; not logged", extra={"error": repr(exc)})
        return Ranked(keyword, words, semantic, window, signals, ranked, degraded, context, vectors)

    def _feature_context(
        self,
        keyword: KeywordWindow,
        semantic: SemanticCandidates | None,
        signals: PersonalSignals,
        config: RankingConfig,
        ranked: list[RankedHit],
        now: dt.datetime,
    ) -> FeatureContext:
        assert self.features is not None  # noqa: S101 - LTR and feature logging are built with one
        return feature_context(
            keyword.understood,
            keyword.hits,
            semantic,
            signals,
            self.features.category_medians(),
            config.freshness_half_life_days,
            now,
            ranked,
        )

    def _window(self, found: Ranked, config: RankingConfig, size: int) -> FeatureWindow | None:
        """The top `size` of a ranked window with its feature context, when it has one."""
        if found.context is None:
            return None
        top = found.ranked[:size]
        return FeatureWindow(
            found.context,
            [r.hit.id for r in top],
            config.version,
            [str(r.hit.source.get("category_lvl1") or "") for r in top],
            next((r.ltr.model for r in top if r.ltr is not None), FORMULA),
            found.vectors,
        )

    def _retrieve(
        self,
        request: SearchRequest,
        understood: UnderstoodQuery,
        config: RankingConfig,
        served: LtrAssignment | None = None,
        with_window: bool = False,
        shadowed: bool = True,
    ) -> tuple[CachedPage, FeatureWindow | None]:
        """The uncached page, and (`with_window`, relevance order only) its feature window. The
        fallback chain runs across the stages: as understood, then the spelling correction even
        when it was not confident enough to apply, then a relaxed minimum_should_match (the
        keyword retriever's), then semantic candidates alone (the window's). Constraints read from
        the query's words ("under 30") join the request's own filters."""
        request = with_query_filters(request, understood.filters)
        found = self._ranked(request, understood, config, search_clock(), served, with_window, shadowed)
        keyword, window = found.keyword, found.window
        fallback, total = keyword.fallback, keyword.response.total
        if request.sort != "relevance":
            results = self.presenter.sorted_page(keyword.hits, request)
        else:
            keyword_ids = {h.id for h in keyword.hits}
            # Semantic candidates the keyword query did not return are extra results.
            total += sum(1 for c in window.candidates if c.hit.id not in keyword_ids)
            if keyword.response.total == 0 and window.candidates:
                fallback = "semantic"
            # Semantic-only retrieval (an evaluation mode) has no keyword order to continue with.
            keyword_side = [] if config.retrieval == "semantic" else keyword.hits

            def tail(offset: int, size: int, exclude: tuple[str, ...]) -> list[Hit]:
                return self.keyword.tail(keyword, request, config, offset, size, exclude)

            keyword_total = keyword.response.total if keyword_side else 0
            results = self.presenter.relevance_page(found.ranked, keyword_side, keyword_total, tail, request)
        page = cached_page(
            results,
            total,
            keyword.response.aggregations,
            keyword.understood,
            found.words,
            keyword.response.total,
            fallback,
            window.retrieval,
            [*window.degraded, *found.degraded],
            config,
        )
        return page, self._window(found, config, FEATURE_WINDOW) if with_window else None

    def feature_window(
        self, request: SearchRequest, size: int = FEATURE_WINDOW, now: dt.datetime | None = None
    ) -> FeatureWindow:
        """A relevance search's stages up to personalization, without the cache or the query log,
        and its LTR feature context: what feature logging and its replay compute features from.
        `size`: how many of the ranked window to keep (the rescore window); `now`: the search's
        clock, a logged window's own time when it is recomputed."""
        if self.features is None:
            raise RuntimeError("this search service computes no LTR features")
        understood = understand(self.understanding, request.q)
        config = self.ranking.get()
        request = with_query_filters(msgspec.structs.replace(request, sort="relevance"), understood.filters)
        served = self.ltr.assign(self._subject(request)) if self.ltr is not None else None
        found = self._ranked(request, understood, config, now or search_clock(), served, with_context=True)
        window = self._window(found, config, size)
        if window is None:  # the context failed (logged by _ranked): nothing to compute features from
            raise RuntimeError(f"no feature context for {request.q!r}")
        return window

    # --- the request --------------------------------------------------------------------------------

    def _check(self, request: SearchRequest) -> None:
        if request.page * request.size > MAX_RESULT_WINDOW:
            raise PageTooDeepError(
                f"page * size must be at most {MAX_RESULT_WINDOW}; "
                f"got {request.page} * {request.size} = {request.page * request.size}"
            )
        if request.track:
            bind(user_id=request.user_id)

    def _ranking_id(self, config: RankingConfig, served: LtrAssignment | None) -> str:
        """What decides a page besides the request: the ranking configuration, the query-understanding
        version and, for hybrid retrieval, the query encoder (its vectors differ slightly between
        precisions)."""
        # The understanding artifact decides corrections, entities and filters: a new one (a
        # merchandiser's spelling rule) must not be answered from pages the old one made.
        understanding = f"qu:{self.understanding.version}"
        ranking = config.version
        if served is not None and served.version is not None:  # a learned model ranks the window's top
            window = self.ltr.window if self.ltr is not None else 0
            ranking = f"{ranking}+ltr:{served.version}@{window}"
        if self.semantic is None or config.retrieval == "keyword":
            return f"{ranking}|{understanding}"
        return f"{ranking}|{understanding}|{self.semantic.encoder_id}"

    def search_in_memory(
        self, request: SearchRequest
    ) -> tuple[SearchResponse | None, UnderstoodQuery | None]:
        """The page from this process's memory, or None; and the understood query when it was worked
        out (`search` reuses it). Does no I/O at all, so the controller can call it on the event loop
        and skip the thread hop for the hottest queries."""
        started = time.perf_counter()
        self._check(request)
        if request.ubi.query_id is not None and self.query_ids is not None:
            return None, None  # the client's id is checked in Redis: I/O, so not on the event loop
        config, catalog = self.ranking.peek(), self.catalog_version.peek()
        if not self.cache.enabled or config is None or catalog is None:
            return None, None
        exposure = self._exposure(request)
        config = self._configured(config, exposure)
        if exposure is not None and (
            exposure.interleaving or exposure.changes.model_aliases.get(LTR_ARTIFACT)
        ):
            return None, None  # two pages to merge, or a model that may need loading: not on the event loop
        served = self.ltr.assign(self._subject(request), allow_reload=False) if self.ltr is not None else None
        if served is not None and served.canary_version is not None:
            return None, None  # a live canary's record may write a batch: I/O, so not on the event loop
        # Normalization alone makes the key: understanding a new query may encode it (spelling and
        # entities weigh meaning), which is no work for the event loop.
        understood = self.understanding.remembered(request.q)
        normalized = understood.normalized if understood else self.understanding.normalize(request.q)
        key = cache_key(request, normalized, self._ranking_id(config, served), catalog)
        page = self.cache.get_local(key)
        if page is None:
            return None, understood
        return self._respond(request, page, cache_hit=True, started=started, exposure=exposure), understood

    def _served(
        self, request: SearchRequest, exposure: Exposure | None, canary: bool = True
    ) -> LtrAssignment | None:
        """The learned ranker for this search: the LTR alias the shopper's variant names, else the
        champion or (`canary`, and no alias named) the canary's share. A named alias without a usable
        version falls back to the champion: a variant's shopper never lands in the canary's traffic."""
        if self.ltr is None:
            return None
        alias = exposure.changes.model_aliases.get(LTR_ARTIFACT) if exposure is not None else None
        if alias:
            return self.ltr.assign_alias(alias) or self.ltr.champion()
        return self.ltr.assign(self._subject(request)) if canary else self.ltr.champion()

    def _exposure(self, request: SearchRequest) -> Exposure | None:
        """The search experiments the shopper is in (a pure function of the ids: no I/O)."""
        if self.experiments is None:
            return None
        return self.experiments.exposure(request.user_id, request.session_id, dt.datetime.now(dt.UTC))

    def _configured(self, config: RankingConfig, exposure: Exposure | None) -> RankingConfig:
        if exposure is None or self.experiments is None:
            return config
        return self.experiments.ranking(config, exposure)

    def _page(
        self,
        request: SearchRequest,
        understood: UnderstoodQuery | None = None,
        served: LtrAssignment | None = None,
        with_window: bool = False,
        exposure: Exposure | None = None,
        shadowed: bool = True,
    ) -> tuple[CachedPage, bool, FeatureWindow | None]:
        """The page from the cache, or retrieved and cached; whether it was a cache hit; and (an
        uncached relevance page, `with_window`) the feature window it was ranked from. `exposure`:
        the shopper's experiments, whose variants may change the ranking configuration."""
        understood = understand(self.understanding, request.q, understood)
        config = self._configured(self.ranking.get(), exposure)
        ranking_id = self._ranking_id(config, served)
        key = cache_key(request, understood.normalized, ranking_id, self.catalog_version.get())
        page = self.cache.get(key)
        if page is not None:
            return page, True, None
        page, window = self._retrieve(request, understood, config, served, with_window, shadowed)
        if not page.degraded:  # a page missing a component is not kept for the cache's lifetime
            self.cache.put(key, page)
        return page, False, window

    def search(self, request: SearchRequest, understood: UnderstoodQuery | None = None) -> SearchResponse:
        """`understood`: the query as `search_in_memory` already understood it, if it did."""
        started = time.perf_counter()
        with span("search"):
            self._check(request)
            id_checked = self.query_ids.claim(request) if self.query_ids is not None else True
            query_id = request.ubi.query_id or random_uuid()
            logged = self.feature_log is not None and self.feature_log.sampled(request, query_id)
            exposure = self._exposure(request)
            if exposure is not None and exposure.interleaving is not None:
                return self._interleaved(request, understood, exposure, started, id_checked, query_id)
            served = self._served(request, exposure)
            try:
                page, cache_hit, window = self._page(request, understood, served, logged, exposure)
            except Exception:
                self._record_canary(served, request, query_id, None, started)
                raise
            if window is not None and self.feature_log is not None:
                self.feature_log.offer(request.q, query_id, window)
            self._record_canary(served, request, query_id, page, started)
            page, explored = self._explored(request, query_id, page)
            return self._respond(
                request, page, cache_hit, started, id_checked, query_id, exposure, explored=explored
            )

    def _explored(
        self, request: SearchRequest, query_id: str, page: CachedPage
    ) -> tuple[CachedPage, int | None]:
        """The page as shown: a sampled first page in relevance order with neighbours swapped
        (quarry/search/exploration.py), and the swap's phase for the query record. The cached page
        is never changed: the swap is drawn per search."""
        if self.exploration is None or request.page != 1 or request.sort != "relevance":
            return page, None
        if len(page.results) < 2:  # nothing to swap: not recorded as explored
            return page, None
        phase = self.exploration.phase(query_id)
        if phase is None:
            return page, None
        return msgspec.structs.replace(page, results=self.exploration.apply(page.results, phase)), phase

    def _interleaved(
        self,
        request: SearchRequest,
        understood: UnderstoodQuery | None,
        exposure: Exposure,
        started: float,
        id_checked: bool,
        query_id: str,
    ) -> SearchResponse:
        """An interleaving experiment: each team's page (cached as its variant's), merged by team
        draft seeded by the query id. Only the first relevance page is merged (a later page or
        another sort order would not be either team's ranking): those are served by team `a` and
        carry no teams, so the readout does not count them. Neither feature-logged nor a canary's."""
        teams = exposure.interleaving
        assert teams is not None  # noqa: S101 - narrows a type; the caller checked
        pages = []
        for variant in (
            (teams.a, teams.b) if request.sort == "relevance" and request.page == 1 else (teams.a,)
        ):
            team = Exposure(
                exposure.assignments,
                merged([exposure.changes, variant.changes]),
                f"{exposure.label}:{variant.name}",
            )
            served = self._served(request, team, canary=False)
            page, cache_hit, _ = self._page(request, understood, served, False, team, shadowed=False)
            pages.append((page, cache_hit))
        if len(pages) == 1:
            return self._respond(request, pages[0][0], pages[0][1], started, id_checked, query_id, exposure)
        (a, a_hit), (b, b_hit) = pages
        drafted = team_draft(
            [r.product_id for r in a.results], [r.product_id for r in b.results], request.size, query_id
        )
        results = {r.product_id: r for r in b.results} | {r.product_id: r for r in a.results}
        merged_page = msgspec.structs.replace(a, results=[results[p] for p in drafted.items])
        names = {A: teams.a.name, B: teams.b.name}
        team_names = [names[t] for t in drafted.teams]
        return self._respond(
            request, merged_page, a_hit and b_hit, started, id_checked, query_id, exposure, team_names
        )

    @staticmethod
    def _subject(request: SearchRequest) -> str | None:
        """Who a canary is assigned by: the shopper's pseudonym, else the session's."""
        return request.user_id or request.session_id

    def _record_canary(
        self,
        served: LtrAssignment | None,
        request: SearchRequest,
        query_id: str,
        page: CachedPage | None,
        started: float,
    ) -> None:
        """While an LTR canary lives, every relevance search is recorded for its guardrails (the
        query id is what the shopper's events carry). `page` None: the search failed."""
        if served is None or served.canary_version is None or request.sort != "relevance":
            return
        traffic = self.ltr.canary_traffic if self.ltr is not None else None
        if traffic is None:
            return
        failed = page is None or "ltr" in page.degraded
        traffic.record(
            request_id=query_id,
            artifact=LTR_ARTIFACT,
            canary_version=served.canary_version,
            subject=self._subject(request) if request.track else None,  # opted out: a unit of its own
            variant=served.alias,
            served_version=served.served,
            strategy="ltr" if served.model is not None else FORMULA,
            outcome=ERROR if failed else (OK if page is not None and page.results else EMPTY),
            results=len(page.results) if page is not None else 0,
            latency_s=time.perf_counter() - started,
        )

    def _respond(
        self,
        request: SearchRequest,
        page: CachedPage,
        cache_hit: bool,
        started: float,
        id_checked: bool = True,
        query_id: str | None = None,
        exposure: Exposure | None = None,
        teams: list[str] | None = None,
        explored: int | None = None,
    ) -> SearchResponse:
        degraded = ["spell_correction"] if self.understanding.degraded else []
        if not id_checked:
            degraded.append("query_id_check")
        if self.semantic is not None:
            degraded.extend(self.semantic.degraded_components())
        degraded.extend(page.degraded)
        if self.cache.bypassed:
            degraded.append("cache")
        count(page)
        searched = current_span()
        if searched.is_recording():  # no attribute dict on the hot path when nobody records
            searched.set_attributes(
                {
                    "quarry.results": len(page.results),
                    "quarry.total": page.total,
                    "quarry.cache.hit": cache_hit,
                    "quarry.retrieval.mode": page.retrieval.mode,
                    "quarry.degraded": degraded,
                }
            )
        query_id = query_id or request.ubi.query_id or random_uuid()
        took_ms = round((time.perf_counter() - started) * 1000, 2)
        with span("ubi.log"):
            log_query(self.query_log, request, page, query_id, exposure, took_ms, teams, explored)
        log.info(
            "search",
            extra={
                "query": page.query.normalized,
                "results_count": page.total,
                "latency_ms": took_ms,
                "cache_hit": cache_hit,
                "query_id": query_id,
                "fallback": page.fallback,
            },
        )
        return SearchResponse(
            query_id=query_id,
            query=page.query,
            total=page.total,
            page=request.page,
            size=request.size,
            results=page.results,
            facets=page.facets,
            took_ms=took_ms,
            cache_hit=cache_hit,
            degraded=degraded,
            retrieval=page.retrieval,
            match_quality=page.match_quality,
            match=page.match,
            ext=ResponseExt(ubi=UbiResponse(query_id=query_id)),
            experiments=exposure.assignments if exposure is not None else [],
            teams=teams or [],
        )

    def preview(
        self, request: SearchRequest, changes: Changes | None = None, label: str = "", learned: bool = True
    ) -> CachedPage:
        """A page as another configuration ranks it, for the relevance workbench: the live ranking
        configuration with `changes` (an experiment variant's, a retrieval mode), reordered by the
        LTR champion (or the variant's LTR alias) or, `learned` False, by the formula alone. Neither
        cached, logged nor compared by the shadow: it is a relevance engineer's look, not a
        shopper's search. ValueError: `changes` do not apply."""
        config = self.ranking.get()
        if changes is not None:
            try:
                config = changed(config, changes, f"{config.version}+{label}")
            except msgspec.ValidationError as exc:
                raise ValueError(str(exc)) from exc
        served = self.ltr.assign(None) if learned and self.ltr is not None else None
        alias = changes.model_aliases.get(LTR_ARTIFACT) if changes is not None else None
        if learned and alias and self.ltr is not None:  # the variant's own learned ranker
            served = self.ltr.assign_alias(alias) or served
        page, _ = self._retrieve(
            request, understand(self.understanding, request.q), config, served, shadowed=False
        )
        return page

    def close(self) -> None:
        if self.feature_log is not None:
            self.feature_log.close()
        if self.ltr is not None:
            self.ltr.close()

    def warm(self, queries: list[str], stopping: threading.Event | None = None) -> int:
        """Fill the result cache for frequent queries (first page, default parameters) without logging
        them as shopper queries, until `stopping` is set. Returns how many were computed."""
        warmed = 0
        for query in queries:
            if stopping is not None and stopping.is_set():
                break
            try:
                served = self.ltr.assign(None) if self.ltr is not None else None
                _, hit, _ = self._page(SearchRequest(q=query), served=served)
                warmed += 0 if hit else 1
            except (ValueError, SearchEngineError) as exc:
                log.warning("cache warm-up skipped a query", extra={"query": query, "error": str(exc)})
        return warmed

"""SearchService: understand -> cache -> retrieve (with the zero-result fallback chain) -> rank -> log."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from api.search.cache import SearchCache, cache_key
from api.search.candidates import from_docvalues
from api.search.client_ids import ClientQueryIds
from api.search.hybrid import FusedCandidate, fuse, keyword_only
from api.search.match_quality import MatchThresholds, known_share
from api.search.match_quality import quality as match_quality
from api.search.match_quality import signals as match_signals
from api.search.query_builder import search_body
from api.search.ranking import CategoryUse, RankedHit, RankingConfig, RankingSource, rank
from api.search.schemas import (
    CachedPage,
    Facets,
    FacetValue,
    QueryInfo,
    ResponseExt,
    RetrievalInfo,
    SearchRequest,
    SearchResponse,
    SearchResult,
    UbiResponse,
)
from api.search.semantic import SemanticRetriever
from api.ubi.writer import APPLICATION, OBJECT_ID_FIELD, QueryLogWriter, UbiQuery
from api.understanding.schemas import AppliedFilter, UnderstoodQuery
from api.understanding.services import QueryUnderstanding
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import Hit, SearchEngine, SearchEngineError
from quarry.adapters.search_engine import SearchResponse as EngineResponse
from quarry.circuit import CircuitBreaker
from quarry.ids import random_uuid
from quarry.logs import bind
from quarry.metrics import SEARCHES, SPELL_CORRECTIONS, TOP_SCORE, ZERO_RESULT_SEARCHES
from quarry.privacy import ShopperPrivacy
from quarry.redis_keys import SESSION_KEEP, session_key, user_affinity_key
from quarry.text import tokens
from quarry.tracing import current_span, span
from quarry.ubi import ubi_timestamp

_REQUEST_JSON = msgspec.json.Encoder()
log = logging.getLogger("api.search")

MAX_RESULT_WINDOW = 10_000
CATALOG_VERSION_TTL_S = 5.0


class PageTooDeepError(ValueError):
    """page * size beyond the 10,000-result window."""


class CatalogVersion:
    """The physical index behind the alias, cached for a few seconds: part of every cache key, so a
    reindex or rollback makes old cache entries unreachable."""

    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self._engine = engine
        self._alias = alias
        self._value = ""
        self._fetched_at = float("-inf")

    def peek(self) -> str | None:
        """The cached value while it is fresh, else None (never calls OpenSearch)."""
        return self._value if time.monotonic() - self._fetched_at < CATALOG_VERSION_TTL_S else None

    def get(self) -> str:
        """While OpenSearch is unreachable the last known version is kept, so cached pages are still
        answered (they were built on that version); with none known yet the error propagates."""
        if time.monotonic() - self._fetched_at >= CATALOG_VERSION_TTL_S:
            try:
                with span("catalog.version", one_call=True):
                    self._value = ",".join(self._engine.alias_targets(self._alias)) or self._alias
            except SearchEngineError as exc:
                if not self._value:
                    raise
                log.warning(
                    "catalog version unavailable; keeping the last one for cached pages",
                    extra={"catalog_version": self._value, "error": str(exc)},
                )
            self._fetched_at = time.monotonic()
        return self._value


class AffinityReader:
    """Personal category affinity for the ranking's `affinity` component: the user's long-term
    affinity (features job) and the session's share of recent engagement per category (events API),
    whichever is larger."""

    def __init__(
        self, store: KeyValueStore, breaker: CircuitBreaker, engine: SearchEngine, alias: str
    ) -> None:
        self._store = store
        self._breaker = breaker
        self._engine = engine
        self._alias = alias

    def get(self, user_id: str | None, session_id: str | None = None) -> dict[str, float]:
        merged = self._user(user_id)
        for department, share in self._session(session_id).items():
            merged[department] = max(merged.get(department, 0.0), share)
        return merged

    def _session(self, session_id: str | None) -> dict[str, float]:
        if not session_id or not self._breaker.allow():
            return {}
        try:
            recent = self._store.recent(session_key(session_id), SESSION_KEEP)
        except CacheError:
            self._breaker.record_failure()
            return {}
        self._breaker.record_success()
        if not recent:
            return {}
        body = {
            "size": len(recent),
            "_source": False,
            "stored_fields": "_none_",
            "docvalue_fields": ["product_id", "category_lvl1"],
            "query": {"terms": {"product_id": recent}},
        }
        try:
            found = self._engine.search(self._alias, body)
        except SearchEngineError as exc:  # personalization is optional: rank without it
            log.warning("session affinity unavailable", extra={"error": str(exc)})
            return {}
        department = {h.id: str(h.source.get("category_lvl1") or "") for h in map(from_docvalues, found.hits)}
        counts: dict[str, int] = {}
        for product in recent:
            if name := department.get(product):
                counts[name] = counts.get(name, 0) + 1
        return {d: n / len(recent) for d, n in counts.items()}

    def _user(self, user_id: str | None) -> dict[str, float]:
        if not user_id or not self._breaker.allow():
            return {}
        try:
            raw = self._store.get(user_affinity_key(user_id))
        except CacheError:
            self._breaker.record_failure()
            return {}
        self._breaker.record_success()
        if raw is None:
            return {}
        try:
            return msgspec.json.decode(raw, type=dict[str, float])
        except msgspec.DecodeError:
            return {}


def _explanation_summary(explanation: dict[str, Any] | None) -> str | None:
    if not explanation:
        return None
    parts = [f"{explanation.get('value', 0):.3f} = {explanation.get('description', '')}"]
    for child in explanation.get("details", [])[:5]:
        parts.append(f"{child.get('value', 0):.3f} {child.get('description', '')[:120]}")
    return "; ".join(parts)


def _facets(aggregations: dict[str, Any]) -> Facets:
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


def _result(hit: Hit, score: float, ranked: RankedHit | None, explain: bool) -> SearchResult:
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


def without_sources(text: str, filters: tuple[AppliedFilter, ...]) -> str:
    """The text without the words each filter was read from."""
    padded = f" {text} "
    for applied in filters:
        padded = padded.replace(f" {applied.source} ", " ")
    return " ".join(padded.split()) or text


def with_query_filters(request: SearchRequest, filters: tuple[AppliedFilter, ...]) -> SearchRequest:
    """The request with the query's own constraints added: the tighter bound wins where the request has
    one too ("dress under 30" with price_max=50 searches up to 30)."""
    if not filters:
        return request
    price_min, price_max, rating_min = request.price_min, request.price_max, request.rating_min
    attributes = list(request.attributes)
    for applied in filters:
        if applied.field == "price" and isinstance(applied.value, float):
            if applied.operator == "gte":
                price_min = max(price_min or 0.0, applied.value)
            else:
                price_max = applied.value if price_max is None else min(price_max, applied.value)
        elif applied.field == "rating" and isinstance(applied.value, float):
            rating_min = max(rating_min or 0.0, applied.value)
        elif applied.field.startswith("attributes."):
            attributes.append((applied.field.removeprefix("attributes."), str(applied.value)))
    return msgspec.structs.replace(
        request,
        price_min=price_min,
        price_max=price_max,
        rating_min=rating_min,
        attributes=tuple(dict.fromkeys(attributes)),
    )


class SearchService:
    def __init__(
        self,
        engine: SearchEngine,
        alias: str,
        understanding: QueryUnderstanding,
        ranking: RankingSource,
        cache: SearchCache,
        affinity: AffinityReader,
        query_log: QueryLogWriter,
        product_affinity: Callable[[str | None, list[str]], dict[str, float]] | None = None,
        semantic: SemanticRetriever | None = None,
        query_ids: ClientQueryIds | None = None,
        *,
        privacy: ShopperPrivacy,
    ) -> None:
        """`privacy`: how the controller turns a request's shopper into pseudonyms and consent; held
        here, not injected beside the service, because a second dependency makes Litestar resolve
        them in an anyio task group on every request (4 % of a cached search's CPU, py-spy)."""
        self.privacy = privacy
        self.semantic = semantic
        self.query_ids = query_ids
        self.product_affinity = product_affinity or (lambda user, products: {})
        self.engine = engine
        self.alias = alias
        self.understanding = understanding
        self.ranking = ranking
        self.cache = cache
        self.affinity = affinity
        self.query_log = query_log
        self.catalog_version = CatalogVersion(engine, alias)

    # --- retrieval --------------------------------------------------------------------------------

    def _keyword(
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
    ) -> tuple[EngineResponse, list[Hit]]:
        """Relevance searches fetch the candidate window (start 0, `window` hits); explicit sorts and
        the tail beyond the window fetch the requested slice (the tail needs no facets)."""
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
            response = self.engine.search(self.alias, body)
            keyword.set_attribute("quarry.results", len(response.hits))
            keyword.set_attribute("quarry.total", response.total)
        return response, [from_docvalues(h) for h in response.hits]

    def _candidates(
        self,
        text: str,
        request: SearchRequest,
        config: RankingConfig,
        keyword_hits: list[Hit],
        understood: UnderstoodQuery,
        shop_word_share: float = 1.0,
        by_category: CategoryUse | None = None,
    ) -> tuple[list[FusedCandidate], RetrievalInfo, list[str]]:
        """The reranking window: keyword candidates fused with semantic ones (per the configuration),
        the retrieval summary, and the components that were bypassed."""
        keyword_info = RetrievalInfo(mode="keyword", keyword_candidates=len(keyword_hits))
        if config.retrieval == "keyword" or self.semantic is None:
            return keyword_only(keyword_hits), keyword_info, []
        with span("retrieve.semantic") as semantic_span:
            semantic = self.semantic.retrieve(
                text,
                request,
                config.window,
                config.semantic_floor(self.semantic.model),
                keyword_hits,
                by_category,
            )
            semantic_span.set_attribute("quarry.results", len(semantic.hits) if semantic else 0)
        if semantic is None:  # no query vector: `degraded` says so from the retriever's state
            return keyword_only(keyword_hits), keyword_info, []
        keyword_side = keyword_hits if config.retrieval == "hybrid" else []
        fused = fuse(
            keyword_side,
            semantic.hits,
            semantic.similarity if semantic.relevance is None else semantic.relevance,
            config.fusion,
            config.rrf_k,
            config.keyword_weight_for(understood.entities, shop_word_share),
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
        return fused, info, semantic.degraded

    def _rank_window(
        self, candidates: list[FusedCandidate], request: SearchRequest, config: RankingConfig
    ) -> list[RankedHit]:
        if not candidates:
            return []  # no personal features to fetch for an empty window
        hits = [c.hit for c in candidates]
        with span("personalization.features") as features:
            affinity, products = {}, {}
            if request.personalize:
                affinity = self.affinity.get(request.user_id, request.session_id)
                if request.user_id:
                    products = self.product_affinity(request.user_id, [h.id for h in hits])
            features.set_attribute("quarry.personalized", bool(affinity or products))
        relevance = [c.relevance for c in candidates]
        with span("rank", {"quarry.candidates": len(hits)}):
            return rank(hits, config, dt.datetime.now(dt.UTC), affinity, products, relevance)

    def _relevance_page(
        self,
        ranked: list[RankedHit],
        keyword_hits: list[Hit],
        keyword_total: int,
        retry: Callable[[int, int, tuple[str, ...]], list[Hit]],
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
        titled = self._with_titles([r.hit for r in window])
        results = [_result(hit, r.score, r, request.explain) for hit, r in zip(titled, window, strict=True)]
        missing = end - start - len(window)
        if missing > 0 and keyword_total > len(keyword_hits):
            keyword_ids = {h.id for h in keyword_hits}
            semantic_only = tuple(r.hit.id for r in ranked if r.hit.id not in keyword_ids)
            offset = len(keyword_hits) + max(0, start - len(ranked))
            tail = self._with_titles(retry(offset, missing, semantic_only))
            results += [_result(h, h.score or 0.0, None, request.explain) for h in tail]
        return results

    def _with_titles(self, hits: list[Hit]) -> list[Hit]:
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
            for h in self.engine.search(self.alias, body).hits
        }
        return [
            hit
            if "title" in hit.source
            else msgspec.structs.replace(hit, source={**hit.source, "title": titles.get(hit.id, "")})
            for hit in hits
        ]

    def _retrieve(
        self, request: SearchRequest, understood: UnderstoodQuery, config: RankingConfig
    ) -> CachedPage:
        """The zero-result fallback chain: as understood, then the spelling correction even when it was
        not confident enough to apply, then a relaxed minimum_should_match, then semantic candidates
        alone. Semantic candidates join the window of a relevance page at the end of the chain.
        Constraints read from the query's words ("under 30") join the request's own filters."""
        request = with_query_filters(request, understood.filters)
        response, hits = self._keyword(
            understood.effective, request, understood, config, config.minimum_should_match
        )
        fallback = None
        if response.total == 0 and not understood.corrected:
            correction = understood.did_you_mean or understood.fallback
            if correction:
                # The words that became filters ("under 30") are no text in the retry either.
                searched = without_sources(correction, understood.filters)
                retry, retry_hits = self._keyword(
                    searched, request, understood, config, config.minimum_should_match
                )
                if retry.total:
                    response, hits, fallback = retry, retry_hits, "corrected"
                    understood = msgspec.structs.replace(
                        understood,
                        corrected=correction,
                        did_you_mean=None,
                        searched=searched if understood.filters else None,
                        expanded=None,
                    )
        if response.total == 0:
            retry, retry_hits = self._keyword(
                understood.effective, request, understood, config, config.relaxed_minimum_should_match
            )
            if retry.total:
                response, hits, fallback = retry, retry_hits, "relaxed_match"
        total, degraded = response.total, list[str]()
        # The query's words against the shop's vocabulary, counted once: they set the fusion weight
        # and match quality ("waterbottle" read as its expansion "water bottle").
        searched_words = tokens(understood.expanded or understood.effective)
        words = match_signals(searched_words, self.understanding.catalog_knows, "none", None)
        if request.sort == "relevance":
            by_category = config.category_use(
                words.shop_word_share, lambda: known_share(searched_words, self.understanding.knows)
            )
            candidates, retrieval, degraded = self._candidates(
                understood.effective, request, config, hits, understood, words.shop_word_share, by_category
            )
            keyword_ids = {h.id for h in hits}
            # Semantic candidates the keyword query did not return are extra results.
            total += sum(1 for c in candidates if c.hit.id not in keyword_ids)
            if response.total == 0 and candidates:
                fallback = "semantic"
            msm = (
                config.relaxed_minimum_should_match
                if fallback == "relaxed_match"
                else config.minimum_should_match
            )

            def tail(offset: int, size: int, exclude: tuple[str, ...]) -> list[Hit]:
                return self._keyword(
                    understood.effective, request, understood, config, msm, offset, size, exclude, False
                )[1]

            ranked = self._rank_window(candidates, request, config)
            # Semantic-only retrieval (an evaluation mode) has no keyword order to continue with.
            keyword_side = [] if config.retrieval == "semantic" else hits
            keyword_total = response.total if keyword_side else 0
            results = self._relevance_page(ranked, keyword_side, keyword_total, tail, request)
        else:
            retrieval = RetrievalInfo(mode="keyword")
            titled = self._with_titles(hits)
            results = [_result(h, h.score or 0.0, None, request.explain) for h in titled]
        keyword_match = {None: "strict", "corrected": "corrected", "relaxed_match": "relaxed"}.get(
            fallback, "none"
        )
        if keyword_match == "strict" and response.total == 0:
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
            facets=_facets(response.aggregations),
            query=info,
            fallback=fallback,
            retrieval=retrieval,
            degraded=degraded,
            match_quality=quality,
            match=found,
        )

    # --- the request --------------------------------------------------------------------------------

    def _check(self, request: SearchRequest) -> None:
        if request.page * request.size > MAX_RESULT_WINDOW:
            raise PageTooDeepError(
                f"page * size must be at most {MAX_RESULT_WINDOW}; "
                f"got {request.page} * {request.size} = {request.page * request.size}"
            )
        if request.track:
            bind(user_id=request.user_id)

    def _ranking_id(self, config: RankingConfig) -> str:
        """What decides a page besides the request: the ranking configuration, the query-understanding
        version and, for hybrid retrieval, the query encoder (its vectors differ slightly between
        precisions)."""
        # The understanding artifact decides corrections, entities and filters: a new one (a
        # merchandiser's spelling rule) must not be answered from pages the old one made.
        understanding = f"qu:{self.understanding.version}"
        if self.semantic is None or config.retrieval == "keyword":
            return f"{config.version}|{understanding}"
        return f"{config.version}|{understanding}|{self.semantic.encoder_id}"

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
        # Normalization alone makes the key: understanding a new query may encode it (spelling and
        # entities weigh meaning), which is no work for the event loop.
        understood = self.understanding.remembered(request.q)
        normalized = understood.normalized if understood else self.understanding.normalize(request.q)
        key = cache_key(request, normalized, self._ranking_id(config), catalog)
        page = self.cache.get_local(key)
        if page is None:
            return None, understood
        return self._respond(request, page, cache_hit=True, started=started), understood

    def _page(
        self, request: SearchRequest, understood: UnderstoodQuery | None = None
    ) -> tuple[CachedPage, bool]:
        """The page from the cache, or retrieved and cached; and whether it was a cache hit."""
        if understood is None:
            understood = self.understanding.understand(request.q)
        else:  # understood on the event loop, which never reloads: check for a new vocabulary here
            self.understanding.reload_if_due()
        config = self.ranking.get()
        key = cache_key(request, understood.normalized, self._ranking_id(config), self.catalog_version.get())
        page = self.cache.get(key)
        if page is not None:
            return page, True
        page = self._retrieve(request, understood, config)
        if not page.degraded:  # a page missing a component is not kept for the cache's lifetime
            self.cache.put(key, page)
        return page, False

    def search(self, request: SearchRequest, understood: UnderstoodQuery | None = None) -> SearchResponse:
        """`understood`: the query as `search_in_memory` already understood it, if it did."""
        started = time.perf_counter()
        with span("search"):
            self._check(request)
            id_checked = self.query_ids.claim(request) if self.query_ids is not None else True
            page, cache_hit = self._page(request, understood)
            return self._respond(request, page, cache_hit, started, id_checked)

    def _respond(
        self,
        request: SearchRequest,
        page: CachedPage,
        cache_hit: bool,
        started: float,
        id_checked: bool = True,
    ) -> SearchResponse:
        degraded = ["spell_correction"] if self.understanding.degraded else []
        if not id_checked:
            degraded.append("query_id_check")
        if self.semantic is not None:
            degraded.extend(self.semantic.degraded_components())
        degraded.extend(page.degraded)
        if self.cache.bypassed:
            degraded.append("cache")
        self._count(page)
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
        query_id = request.ubi.query_id or random_uuid()
        with span("ubi.log"):
            self._log_query(request, page, query_id)
        took_ms = round((time.perf_counter() - started) * 1000, 2)
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
        )

    def _log_query(self, request: SearchRequest, page: CachedPage, query_id: str) -> None:
        """The UBI 1.3 query record: the query as typed (the normalized form beside it), the client's
        ids, and the request itself as `query`, as the UBI plugin stores the search body. A shopper
        who opted out of tracking is logged without user, client or session (docs/privacy.md)."""
        if not request.track:
            request = msgspec.structs.replace(
                request,
                user_id=None,
                session_id=None,
                ubi=msgspec.structs.replace(request.ubi, client_id=None),
            )
        self.query_log.submit(
            UbiQuery(
                query_id=query_id,
                user_query=request.q,
                normalized_query=page.query.normalized,
                query_response_id=random_uuid(),
                query_response_hit_ids=[r.product_id for r in page.results],
                timestamp=ubi_timestamp(dt.datetime.now(dt.UTC)),
                application=request.ubi.application or APPLICATION,
                query=_REQUEST_JSON.encode(request).decode(),
                object_id_field=OBJECT_ID_FIELD,
                client_id=request.ubi.client_id,
                user_id=request.user_id,
                session_id=request.session_id,
                query_attributes={
                    **request.ubi.query_attributes,
                    "total": page.total,
                    "page": request.page,
                    "sort": request.sort,
                    "intent": page.query.intent,
                    # Only when set: no nulls in records, and readers ask whether `corrected` exists
                    # (quarry/ubi.py).
                    **({"fallback": page.fallback} if page.fallback else {}),
                    **({"corrected": page.query.corrected} if page.query.corrected else {}),
                },
            )
        )

    def warm(self, queries: list[str]) -> int:
        """Fill the result cache for frequent queries (first page, default parameters) without logging
        them as shopper queries. Returns how many were computed."""
        warmed = 0
        for query in queries:
            try:
                _, hit = self._page(SearchRequest(q=query))
                warmed += 0 if hit else 1
            except (ValueError, SearchEngineError) as exc:
                log.warning("cache warm-up skipped a query", extra={"query": query, "error": str(exc)})
        return warmed

    def _count(self, page: CachedPage) -> None:
        SEARCHES.labels(page.retrieval.mode).inc()
        if page.results:
            TOP_SCORE.observe(page.results[0].score)
        if page.query.corrected:
            SPELL_CORRECTIONS.inc()
        if page.total == 0:
            ZERO_RESULT_SEARCHES.inc()
            log.info("zero results", extra={"query": page.query.normalized})

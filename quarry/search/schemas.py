from __future__ import annotations

from typing import Literal

import msgspec

from quarry.api_keys import FixedFilters
from quarry.experiments.assignment import Assignment
from quarry.search.match_quality import MatchSignals
from quarry.search.ranking import ScoreBreakdown
from quarry.understanding.schemas import AppliedFilter, Entities, SpellingDecision

SortOrder = Literal["relevance", "price_asc", "price_desc", "newest", "rating"]


QueryAttributeValue = str | int | float | bool


class UbiRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a client says about a search for the behaviour log, as the UBI spec's `ext.ubi` request
    has it. It names the search, not its results, so none of it is part of the result cache's key."""

    query_id: str | None = None
    """The client's id for this search; Quarry makes one when absent."""
    client_id: str | None = None
    application: str | None = None
    query_attributes: dict[str, QueryAttributeValue] = msgspec.field(default_factory=dict)


class SearchRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    q: str
    page: int = 1
    size: int = 20
    category: str | None = None
    brand: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    in_stock: bool | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    sort: SortOrder = "relevance"
    user_id: str | None = None
    """The shopper's pseudonym (docs/privacy.md), never the id the client sent."""
    session_id: str | None = None
    explain: bool = False
    personalize: bool = True
    """False: the shopper opted out of personalization; the page is the anonymous one."""
    track: bool = True
    """False: the shopper opted out of tracking; the search is logged without user, client or session."""
    ubi: UbiRequest = msgspec.field(default_factory=UbiRequest)
    fixed: FixedFilters = msgspec.field(default_factory=FixedFilters)
    """The API key's filters, applied on top of the request's (docs/security.md#fixed-filters)."""


class QueryInfo(msgspec.Struct):
    original: str
    normalized: str
    corrected: str | None
    did_you_mean: str | None
    intent: str
    entities: Entities
    spelling: list[SpellingDecision] = msgspec.field(default_factory=list)
    """Every word the spelling step changed, questioned or expanded, and why."""
    applied_filters: list[AppliedFilter] = msgspec.field(default_factory=list)
    """Constraints read from the query's words ("under 30"): applied as filters, shown as chips."""


class SearchResult(msgspec.Struct, omit_defaults=True):
    product_id: str
    title: str
    brand: str
    category: str
    price: float | None
    rating: float | None
    in_stock: bool
    score: float
    score_breakdown: ScoreBreakdown | None = None
    related: bool = False
    """True when nothing matched the query (match_quality none): shown as a related item, no match."""


class FacetValue(msgspec.Struct):
    value: str
    count: int


class Facets(msgspec.Struct):
    brand: list[FacetValue]
    category: list[FacetValue]
    price: list[FacetValue]
    in_stock: list[FacetValue]
    attributes: dict[str, list[FacetValue]]


class RetrievalInfo(msgspec.Struct):
    """How the candidates were found: `mode` keyword | semantic | hybrid, how many each side
    contributed to the reranked window, and the fusion method (None when only one side ran)."""

    mode: str = "keyword"
    keyword_candidates: int = 0
    semantic_candidates: int = 0
    fusion: str | None = None
    best_similarity: float | None = None
    """The query's best cosine similarity to any candidate product (None without a semantic side)."""
    categories: list[str] | None = None
    """For a descriptive query, the categories whose prototypes fit it best and whose products joined
    the window (docs/query-understanding.md#descriptive-queries); None otherwise."""


class UbiResponse(msgspec.Struct):
    query_id: str


class ResponseExt(msgspec.Struct):
    """The `ext` block of an OpenSearch response to a search with `ext.ubi`: clients written for the
    UBI plugin read the query id from `ext.ubi.query_id`."""

    ubi: UbiResponse


class SearchResponse(msgspec.Struct):
    query_id: str
    query: QueryInfo
    total: int
    page: int
    size: int
    results: list[SearchResult]
    facets: Facets
    took_ms: float
    cache_hit: bool
    degraded: list[str]
    retrieval: RetrievalInfo = msgspec.field(default_factory=RetrievalInfo)
    match_quality: str = "good"
    """good | partial (some of the query's meaning is not matched) | none (results are related items)."""
    match: MatchSignals | None = None
    ext: ResponseExt | None = None
    """`ext.ubi.query_id`: the same id as `query_id`, where the UBI plugin's clients look for it."""
    experiments: list[Assignment] = msgspec.field(default_factory=list)
    """The shopper's search experiments and variants, for a frontend that reports them."""
    teams: list[str] = msgspec.field(default_factory=list)
    """In an interleaving experiment: the variant that placed each result, in the results' order."""


class CachedPage(msgspec.Struct):
    """What the result cache stores: everything but the per-request fields."""

    total: int
    results: list[SearchResult]
    facets: Facets
    query: QueryInfo
    fallback: str | None
    retrieval: RetrievalInfo = msgspec.field(default_factory=RetrievalInfo)
    degraded: list[str] = msgspec.field(default_factory=list)  # components bypassed while retrieving
    match_quality: str = "good"
    match: MatchSignals | None = None

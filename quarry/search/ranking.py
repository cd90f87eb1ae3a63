"""Phase-1 ranking: final = w_text*text + w_pop*popularity + w_fresh*freshness + w_pers*affinity.

Every component is in [0, 1] (definitions in docs/ranking.md); weights come per top-level category
from a versioned configuration (quarry/search/ranking.json), read through Redis so operators can push
new weights without a deploy, with the file as the fallback.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import msgspec

from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import Hit
from quarry.metrics import artifact_served
from quarry.search.fusion import Fusion, Relevance, keyword_only
from quarry.timestamps import freshness
from quarry.tracing import span
from quarry.understanding.schemas import Entities

log = logging.getLogger("api.ranking")

CONFIG_KEY = "ranking:config"
# A query is descriptive when fewer than this share of its content words are the shop's own ...
DESCRIPTIVE_SHARE = 0.5
# ... or when it names no entity, no product has its words together (the strict keyword match found
# nothing) and it has at least this many content words. Two words that match only apart are a product
# the shop pairs otherwise ("wool sweater", "travel mug"); three or more are a need in everyday words
# that the catalog's titles happen to use one by one ("peace and quiet on a long flight").
DESCRIPTIVE_MIN_WORDS = 3
CONFIG_TTL_S = 86400
LOCAL_REFRESH_S = 60.0


class Weights(msgspec.Struct, frozen=True):
    text: float
    popularity: float
    freshness: float
    affinity: float


class CategoryUse(msgspec.Struct, frozen=True):
    """What a descriptive query takes from category prototypes (quarry/category_prototypes.py)."""

    weight: float  # a product loses this times its category's shortfall from the best category
    candidates: int  # products of the best-fitting categories added to the window (0: none)


def names_entities(entities: Entities) -> bool:
    """Whether the query names something in the catalog's own terms."""
    return bool(
        entities.brand
        or entities.series
        or entities.category
        or entities.color
        or entities.size
        or entities.material
    )


def is_descriptive(
    shop_word_share: float, content_words: int, partial_keyword_match: bool, entities: Entities
) -> bool:
    """Whether a query describes a need rather than naming a product, so that meaning decides
    (docs/query-understanding.md#descriptive-queries): most of its words are not the shop's, or it
    names nothing the catalog knows and its words are found only apart (`partial_keyword_match`: only
    the relaxed keyword match found anything) while there are enough of them to be a description."""
    if content_words < 2:  # one word names a thing, even one the shop does not know ("airfryer")
        return False
    if shop_word_share < DESCRIPTIVE_SHARE:
        return True
    return partial_keyword_match and content_words >= DESCRIPTIVE_MIN_WORDS and not names_entities(entities)


class RankingConfig(msgspec.Struct, frozen=True):
    version: str
    window: int
    freshness_half_life_days: float
    field_boosts: dict[str, float]
    minimum_should_match: str
    relaxed_minimum_should_match: str
    entity_boosts: dict[str, float]
    weights: dict[str, Weights]
    # Hybrid retrieval (docs/ranking.md#hybrid-relevance); defaults keep older configs valid.
    retrieval: Literal["keyword", "semantic", "hybrid"] = "hybrid"
    fusion: Fusion = "weighted"
    rrf_k: int = 60
    keyword_weight: float = 0.1  # weighted fusion: share of the keyword score
    # ... when the query names catalog entities (brand, category, colour, size, material): such a
    # query is in the catalog's own words, where BM25 and the entity boosts know best.
    keyword_weight_with_entities: float = 0.5
    # ... when the query describes a need rather than naming products: fewer than half of its content
    # words are the shop's own ("keep my coffee hot on the commute"), so keyword matches cover only
    # part of it and meaning decides (docs/query-understanding.md#descriptive-queries).
    keyword_weight_descriptive: float = 0.0
    # ... and its semantic side ranks by a product's similarity less this times its category's
    # shortfall from the best-fitting category (quarry/category_prototypes.py); 0 turns it off.
    category_weight_descriptive: float = 0.0
    # ... and its window also takes this many products of the two categories whose prototypes fit it
    # best, below the similarity floor too, when its words are words of the language (a keyboard mash
    # is no description): "pedal to the office" finds bikes that no single bike's text is close to.
    category_candidates_descriptive: int = 0
    semantic_min_similarity: float = 0.3
    # Each model spreads cosine similarities differently, so the floor that keeps nonsense queries
    # out is the model's own (make semantic-floor measures it); models not named use the one above.
    semantic_min_similarity_by_model: dict[str, float] = msgspec.field(default_factory=dict)
    # Match quality (quarry/search/match_quality.py): the best product similarity that makes a query a
    # good or a partial match by meaning alone; calibrated by make understanding-report.
    match_good_similarity: float = 0.70
    match_partial_similarity: float = 0.55

    def __post_init__(self) -> None:
        """Checked on every load (the file, a push to Redis): a configuration searches cannot use is
        refused whole, so the last good one stays in use instead of failing searches later."""
        problems = []
        if "default" not in self.weights:
            problems.append("weights has no 'default' (the weights of departments not listed)")
        if self.window < 1:
            problems.append("window must be at least 1")
        for name, weights in self.weights.items():
            if min(weights.text, weights.popularity, weights.freshness, weights.affinity) < 0:
                problems.append(f"weights[{name!r}] has a negative weight")
        if not 0 <= self.keyword_weight <= 1:
            problems.append("keyword_weight must be between 0 and 1")
        if problems:
            raise ValueError("; ".join(problems))

    def semantic_floor(self, model: str) -> float:
        return self.semantic_min_similarity_by_model.get(model, self.semantic_min_similarity)

    def category_use(self, descriptive: bool, language_share: Callable[[], float]) -> CategoryUse | None:
        """How a query uses category prototypes: only a descriptive one does (`is_descriptive`), since
        a query in the catalog's own words names its product, and its best matches are single
        products, not the average of a category. `language_share` is asked only then (it looks every
        word up)."""
        if not descriptive or self.category_weight_descriptive <= 0:
            return None
        words = self.category_candidates_descriptive > 0 and language_share() >= DESCRIPTIVE_SHARE
        candidates = self.category_candidates_descriptive if words else 0
        return CategoryUse(self.category_weight_descriptive, candidates)

    def keyword_weight_for(self, entities: Entities, descriptive: bool = False) -> float:
        """The keyword side's share in weighted fusion, from what the query is: a description in the
        shopper's own words (`is_descriptive`: meaning decides), catalog entities (BM25 knows best),
        or neither."""
        if descriptive:
            return self.keyword_weight_descriptive
        return self.keyword_weight_with_entities if names_entities(entities) else self.keyword_weight

    def weights_for(self, department: str | None) -> Weights:
        return self.weights.get(department or "", self.weights["default"])


class Component(msgspec.Struct, frozen=True):
    value: float
    weight: float
    contribution: float


class LtrScore(msgspec.Struct, frozen=True):
    """The learned model's score of a result and the features that moved it most (SHAP values)."""

    model: str
    score: float
    top_contributions: dict[str, float] | None = None


class ScoreBreakdown(msgspec.Struct):
    text: Component  # the fused relevance (keyword and semantic), weighted
    popularity: Component
    freshness: Component
    affinity: Component
    bm25: float
    weights_for: str
    keyword: float | None = None  # BM25 min-max normalized in the window; None: not a keyword match
    semantic: float | None = None  # cosine similarity to the query; None: no vector
    fused: float = 0.0
    opensearch_explanation: str | None = None
    ltr: LtrScore | None = None
    """Set when the learned model ranked the result: its score replaces the formula's."""


class RankedHit(msgspec.Struct):
    """A candidate's final score and the numbers behind it. The per-component breakdown is built only
    when asked for (explain, debug logs): creating it for every candidate of every search was the
    largest CPU cost of the ranking step."""

    hit: Hit
    score: float
    values: tuple[float, float, float, float]  # text, popularity, freshness, affinity
    weights: Weights
    weights_for: str
    relevance: Relevance
    position: int = 0
    """The candidate's place in the window: ties keep the candidates' order."""
    shared: float = 0.0
    """The terms every shopper gets (text, popularity, freshness), unrounded."""
    ltr: LtrScore | None = None

    @property
    def breakdown(self) -> ScoreBreakdown:
        parts = [
            Component(round(value, 6), weight, round(value * weight, 6))
            for value, weight in zip(self.values, self._weight_values(), strict=True)
        ]
        return ScoreBreakdown(
            text=parts[0],
            popularity=parts[1],
            freshness=parts[2],
            affinity=parts[3],
            bm25=(self.hit.score or 0.0) if self.relevance.keyword is not None else 0.0,
            weights_for=self.weights_for,
            keyword=self.relevance.keyword,
            semantic=self.relevance.semantic,
            fused=round(self.relevance.fused, 6),
            ltr=self.ltr,
        )

    def _weight_values(self) -> tuple[float, float, float, float]:
        w = self.weights
        return (w.text, w.popularity, w.freshness, w.affinity)


def load_config_file(path: str | Path) -> RankingConfig:
    return msgspec.json.decode(Path(path).read_bytes(), type=RankingConfig)


def version_key(version: str) -> tuple[str, int, str]:
    """Configuration versions are `YYYY-MM-DD.N`: by date, then by N as a number (…9 < …10)."""
    day, _, serial = version.partition(".")
    return (day, int(serial), "") if serial.isdigit() else (day, -1, serial)


class RankingSource(Protocol):
    def peek(self) -> RankingConfig | None: ...
    def get(self) -> RankingConfig: ...


class StaticRankingConfig:
    """One fixed configuration: evaluations run variants (keyword, semantic, fusions) side by side."""

    def __init__(self, config: RankingConfig) -> None:
        self._config = config

    def peek(self) -> RankingConfig:
        return self._config

    def get(self) -> RankingConfig:
        return self._config


class RankingConfigProvider:
    """Config from Redis (`ranking:config`, TTL one day), seeded from the file; the file when Redis
    fails. Cached in memory for a minute so a search costs no Redis round trip for it."""

    def __init__(self, path: str | Path, store: KeyValueStore) -> None:
        self._path = Path(path)
        self._store = store
        self._file = load_config_file(self._path)
        self._current = self._file
        self._fetched_at = float("-inf")
        self._served: str | None = None

    def peek(self) -> RankingConfig | None:
        """The in-memory config while it is fresh, else None (never calls Redis)."""
        return self._current if time.monotonic() - self._fetched_at < LOCAL_REFRESH_S else None

    def get(self) -> RankingConfig:
        if time.monotonic() - self._fetched_at < LOCAL_REFRESH_S:
            return self._current
        return self.refresh()

    def refresh(self) -> RankingConfig:
        """Read the config from Redis now (seeding it from the file when absent)."""
        with span("ranking.config") as fetch:
            config = self._refresh()
            fetch.set_attribute("quarry.ranking.version", config.version)
        return config

    def _refresh(self) -> RankingConfig:
        self._fetched_at = time.monotonic()
        try:
            raw = self._store.get(CONFIG_KEY)
            pushed = msgspec.json.decode(raw, type=RankingConfig) if raw is not None else None
            if pushed is None or version_key(self._file.version) > version_key(pushed.version):
                # First start, or a deploy shipped a newer file than what operators last pushed.
                self._store.set(CONFIG_KEY, msgspec.json.encode(self._file), ttl_s=CONFIG_TTL_S)
                self._current = self._file
            else:
                self._current = pushed
        except CacheError as exc:
            log.warning("ranking config from file: Redis unavailable", extra={"error": str(exc)})
            self._current = self._file
        except msgspec.DecodeError as exc:  # not JSON, or refused by RankingConfig.__post_init__
            log.error(
                "ranking config in Redis is invalid; the last good one stays in use",
                extra={"error": str(exc), "version": self._current.version},
            )
        if self._current.version != self._served:
            artifact_served("ranking-config", self._current.version, self._served)
            self._served = self._current.version
        return self._current


def score_window(
    hits: Sequence[Hit],
    config: RankingConfig,
    now: dt.datetime,
    relevance: Sequence[Relevance] | None = None,
) -> list[RankedHit]:
    """The formula's shared terms (text, popularity, freshness) for a candidate window, best first;
    the personal term is `personalize`'s. `relevance` is each hit's fused text relevance in [0, 1]
    (hybrid retrieval); without it the keyword score is min-max normalized in the window."""
    if not hits:
        return []
    if relevance is None:
        relevance = [c.relevance for c in keyword_only(hits)]
    pops = [math.log1p(max(0.0, float(h.source.get("popularity_score") or 0.0))) for h in hits]
    top_pop = max(pops)
    ranked = []
    for position, (hit, relevant, pop) in enumerate(zip(hits, relevance, pops, strict=True)):
        department = hit.source.get("category_lvl1") or ""
        weights = config.weights_for(department)
        values = (
            relevant.fused,
            pop / top_pop if top_pop > 0 else 0.0,
            freshness(hit.source.get("created_at"), now, config.freshness_half_life_days),
            0.0,
        )
        shared = values[0] * weights.text + values[1] * weights.popularity + values[2] * weights.freshness
        ranked.append(
            RankedHit(
                hit=hit,
                score=round(shared, 6),
                values=values,
                weights=weights,
                weights_for=department if department in config.weights else "default",
                relevance=relevant,
                position=position,
                shared=shared,
            )
        )
    return _best_first(ranked)


def personalize(
    ranked: Sequence[RankedHit],
    affinity: dict[str, float],
    product_affinity: dict[str, float] | None = None,
) -> list[RankedHit]:
    """Add the personal term (w_pers * affinity) to formula-ranked hits, best first. A known user's
    ALS affinity for this very product wins over the category-level affinity."""
    personal = product_affinity or {}
    out = []
    for item in ranked:
        department = item.hit.source.get("category_lvl1") or ""
        value = min(1.0, max(0.0, personal.get(item.hit.id, affinity.get(department, 0.0))))
        out.append(
            msgspec.structs.replace(
                item,
                score=round(item.shared + value * item.weights.affinity, 6),
                values=(*item.values[:3], value),
            )
        )
    return _best_first(out)


def _best_first(ranked: list[RankedHit]) -> list[RankedHit]:
    """By score; ties keep the candidates' order."""
    ranked.sort(key=lambda r: (-r.score, r.position))
    return ranked


def rank(
    hits: Sequence[Hit],
    config: RankingConfig,
    now: dt.datetime,
    affinity: dict[str, float],
    product_affinity: dict[str, float] | None = None,
    relevance: Sequence[Relevance] | None = None,
) -> list[RankedHit]:
    """The whole Phase-1 formula: the shared terms, then the personal one."""
    return personalize(score_window(hits, config, now, relevance), affinity, product_affinity)

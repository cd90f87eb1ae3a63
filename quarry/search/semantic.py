"""The semantic side of search: query vectors (model + caches) and the FAISS artifact.

Both degrade instead of failing: a model that does not load or a vector index that is missing,
truncated or fails its checksum leaves search keyword-only, with `degraded` naming the component.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import numpy as np

from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.adapters.search_engine import Hit, SearchEngine, SearchEngineError
from quarry.adapters.search_engine import SearchResponse as EngineResponse
from quarry.category_prototypes import (
    CategoryPrototypes,
    CategoryRouter,
    category_adjusted,
    relative_fit,
    window_shares,
)
from quarry.embeddings import EmbeddingModelUnavailableError, Encoder, Vectors
from quarry.hot_artifact import HotArtifact
from quarry.lru import Lru
from quarry.search.candidates import from_docvalues
from quarry.search.query_builder import BodyScoring, ids_body, knn_body, knn_by_category_body
from quarry.search.ranking import CategoryUse
from quarry.search.schemas import SearchRequest
from quarry.tracing import span
from quarry.vector_index import ARTIFACT, FaissVectorIndex, load_vector_index

log = logging.getLogger("api.semantic")

QUERY_VECTOR_TTL_S = 86_400
# A descriptive query's window takes products from this many best-fitting categories.
CATEGORIES_SEARCHED = 2
LOCAL_QUERY_VECTORS = 4096


class QueryVectors:
    """Query embeddings by normalized query: process memory, then Redis (`qvec:{model}:{sha1}`, float32
    bytes, one day), then the model. Encoding costs milliseconds of CPU; a cache hit microseconds."""

    def __init__(
        self,
        load_encoder: Callable[[], Encoder],
        store: KeyValueStore,
        cache: bool = True,
        unavailable: str = "embedding model unavailable: search is keyword-only",
    ) -> None:
        self._cache = cache
        self._store = store
        self._model_name = "none"
        self._local: Lru[str, Vectors] = Lru(LOCAL_QUERY_VECTORS)
        # torch runs one encode at a time well on two cores; ONNX Runtime sessions are thread-safe and
        # release the GIL while they compute, so its encodes need no lock (measured, docs/semantic-search.md).
        self._encode_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        self.encoder: Encoder | None = None
        try:
            self.encoder = load_encoder()
            # Vectors differ slightly between encoders (int8 vs fp32): keys carry which one made them.
            encoder = self.encoder
            self._model_name = f"{encoder.model_name}@{encoder.model_version}:{encoder.variant}"
            if encoder.variant == "torch":
                self._encode_lock = threading.Lock()
        except EmbeddingModelUnavailableError as exc:
            log.error(unavailable, extra={"error": str(exc)})

    @property
    def degraded(self) -> bool:
        return self.encoder is None

    @property
    def encoder_id(self) -> str:
        """Which encoder makes the vectors (part of result-cache keys); "none" when there is none."""
        return self._model_name

    def _key(self, text: str) -> str:
        return f"qvec:{self._model_name}:{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()}"

    def vector(self, text: str) -> Vectors | None:
        with span("query.encode", {"quarry.encoder": self._model_name}):
            return self._vector(text)

    def _vector(self, text: str) -> Vectors | None:
        if self.encoder is None:
            return None
        if not self._cache:
            with self._encode_lock:
                encoded: Vectors = self.encoder.encode([text])[0]
            return encoded
        key = self._key(text)
        found = self._local.get(key)
        if found is not None:
            return found
        vector = self._from_redis(key)
        if vector is None:
            with self._encode_lock:
                vector = self.encoder.encode([text])[0]
            self._to_redis(key, vector)
        self._local.put(key, vector)
        return vector

    def _from_redis(self, key: str) -> Vectors | None:
        try:
            raw = self._store.get(key)
        except CacheError:  # the store is breaker-guarded: an outage is skipped, not waited for
            return None
        if raw is None or self.encoder is None or len(raw) != 4 * self.encoder.dimension:
            return None
        return np.frombuffer(raw, dtype=np.float32).copy()

    def _to_redis(self, key: str, vector: Vectors) -> None:
        with contextlib.suppress(CacheError):
            self._store.set(key, np.asarray(vector, dtype=np.float32).tobytes(), ttl_s=QUERY_VECTOR_TTL_S)


class SemanticIndex:
    """The current FAISS artifact, followed without a restart: a new version is loaded beside the old
    one and swapped in with one reference assignment, so searches during a rebuild never fail."""

    def __init__(self, store: ArtifactStore, reload_interval_s: float) -> None:
        self._artifact: HotArtifact[FaissVectorIndex | None] = HotArtifact(
            store, ARTIFACT, lambda version: load_vector_index(store, version)[0], reload_interval_s, None
        )
        if self._artifact.value is None:
            log.warning("no usable FAISS artifact: semantic reranking and fallback are off")

    def get(self, allow_reload: bool = True) -> FaissVectorIndex | None:
        return self._artifact.get(allow_reload)

    def prototypes(self) -> CategoryPrototypes | None:
        """The served artifact's category prototypes, without a reload check (any thread)."""
        faiss_index = self.get(allow_reload=False)
        return faiss_index.categories if faiss_index is not None else None

    @property
    def version(self) -> str | None:
        return self._artifact.version

    def neighbours(self, product_id: str, k: int) -> list[tuple[str, float]] | None:
        """The k products closest to this one by embedding (itself excluded); None when the product
        has no vector (or there is no artifact)."""
        index = self.get()
        vector = index.vectors([product_id]).get(product_id) if index is not None else None
        if index is None or vector is None:
            return None
        return [(pid, score) for pid, score in index.search(vector, k + 1) if pid != product_id][:k]


class SemanticCandidates(msgspec.Struct):
    hits: list[Hit]  # in semantic order, above the similarity floor
    similarity: dict[str, float]  # cosine per product id: these hits and the keyword candidates
    degraded: list[str]
    # What fusion ranks by: the cosine, or for a descriptive query the cosine less its category's
    # shortfall from the best-fitting one (quarry/category_prototypes.py); None: the cosine itself.
    relevance: dict[str, float] | None = None
    categories: list[str] | None = None  # the best-fitting categories searched, when they were
    # For `category_fit`: the query's vector and the catalog model's prototypes.
    query_vector: Vectors | None = None
    prototypes: CategoryPrototypes | None = None

    def category_fit(self) -> dict[str, float] | None:
        """How well the query fits each category by the catalog model's prototypes (`relative_fit`,
        by category path): the LTR feature `category_fit`, for every query, descriptive or not.
        Computed when a search builds its features (about 50 us; most searches do not)."""
        if self.prototypes is None or self.query_vector is None:
            return None
        return relative_fit(self.prototypes.similarities(self.query_vector))


# Lucene's cosinesimil score is (1 + cosine) / 2.
def _cosine_from_knn_score(score: float | None) -> float:
    return 2.0 * (score or 0.5) - 1.0


class SemanticRetriever:
    """Semantic candidates for a query: OpenSearch k-NN with the hard filters inside, FAISS when the
    k-NN query fails; exact cosine for every candidate from the FAISS artifact's vectors."""

    def __init__(
        self,
        engine: SearchEngine,
        alias: str,
        vectors: QueryVectors,
        index: SemanticIndex,
        model: str,
        router_vectors: QueryVectors | None = None,
    ) -> None:
        """`model`: the embedding model of the index's vectors, which picks the similarity floor.
        `router_vectors`: queries encoded with the category router's model, whose prototypes in the
        FAISS artifact say which categories a description fits (without: the catalog model's)."""
        self.model = model
        self._engine = engine
        self._alias = alias
        self.vectors = vectors
        self.index = index
        self.router_vectors = router_vectors

    @property
    def encoder_id(self) -> str:
        """The encoders whose vectors decide a page (part of result-cache keys)."""
        router = self.router_vectors.encoder_id if self.router_vectors is not None else "none"
        return f"{self.vectors.encoder_id}+router:{router}"

    def _category_fit(
        self, text: str, vector: Vectors, prototypes: CategoryPrototypes, router: CategoryRouter | None
    ) -> dict[str, float]:
        """How well the query fits each category: by the router's prototypes when the artifact has them
        for the model this service encodes router queries with, else by the catalog model's."""
        vectors = self.router_vectors
        encoder = vectors.encoder if vectors is not None else None
        if (
            router is not None
            and vectors is not None
            and encoder is not None
            and (router.model, router.model_version) == (encoder.model_name, encoder.model_version)
        ):
            routed = vectors.vector(text)
            if routed is not None:
                return router.prototypes.similarities(routed)
        return prototypes.similarities(vector)

    def degraded_components(self) -> list[str]:
        """Semantic parts that are down for every request right now."""
        down = ["embedding_model"] if self.vectors.degraded else []
        if self.index.get(allow_reload=False) is None:
            down.append("vector_index")
        return down

    def retrieve(
        self,
        text: str,
        request: SearchRequest,
        k: int,
        min_similarity: float,
        keyword_hits: Sequence[Hit],
        by_category: CategoryUse | None = None,
        scoring: BodyScoring | None = None,
    ) -> SemanticCandidates | None:
        """None when there is no query vector (the model is unavailable). With `by_category` (and
        prototypes in the artifact) the window also takes the best-fitting categories' nearest products
        and ranks each product by its similarity adjusted by its category prototype's; the floor and
        `similarity` stay the plain cosine. `scoring`: the hits also carry their LTR features."""

        def search(body: dict[str, Any]) -> EngineResponse:
            return self._engine.search(
                self._alias, scoring(body) if scoring is not None else body, named_scores=scoring is not None
            )

        vector = self.vectors.vector(text)
        if vector is None:
            return None
        faiss_index = self.index.get()
        degraded: list[str] = []  # per-request incidents; lasting states come from degraded_components
        try:
            with span("retrieve.knn", one_call=True) as knn:
                found = search(knn_body(vector.tolist(), request, k))
                knn.set_attribute("quarry.results", len(found.hits))
            hits = [from_docvalues(h) for h in found.hits]
            similarity = {h.id: _cosine_from_knn_score(h.score) for h in hits}
        except SearchEngineError as exc:
            log.warning("k-NN query failed; semantic candidates from FAISS", extra={"error": str(exc)})
            degraded.append("knn")
            hits, similarity = [], {}
            if faiss_index is not None:
                with span("faiss.search") as fallback:
                    nearest = dict(faiss_index.search(vector, k))
                    found = search(ids_body(list(nearest), request))
                    fallback.set_attribute("quarry.results", len(found.hits))
                hits = sorted((from_docvalues(h) for h in found.hits), key=lambda h: -nearest.get(h.id, 0.0))
                similarity = {h.id: nearest.get(h.id, 0.0) for h in hits}
        prototypes = faiss_index.categories if faiss_index is not None else None
        router = faiss_index.router if faiss_index is not None else None
        fit: dict[str, float] = {}
        fitting: list[Hit] = []  # the best-fitting categories' products, admitted below the floor
        searched: list[str] | None = None
        if by_category is not None and prototypes is not None and len(prototypes):
            fit = self._category_fit(text, vector, prototypes, router)
            if by_category.candidates and not request.category and "knn" not in degraded:
                searched = sorted(fit, key=lambda path: -fit[path])[:CATEGORIES_SEARCHED]
                shares = window_shares(fit, searched, by_category.candidates)
                fitting = self._in_categories(search, vector, request, shares)
                seen = {h.id for h in hits}
                hits = [*hits, *(h for h in fitting if h.id not in seen)]
        if faiss_index is not None:
            with span("faiss.rerank") as rerank:
                wanted = list(dict.fromkeys([*(h.id for h in keyword_hits), *(h.id for h in hits)]))
                stored = faiss_index.vectors(wanted)
                if stored:
                    ids = list(stored)
                    exact = np.vstack([stored[i] for i in ids]) @ vector
                    similarity.update(zip(ids, (float(x) for x in exact), strict=True))
                rerank.set_attribute("quarry.candidates", len(stored))
        admitted = {h.id for h in fitting}
        kept = [h for h in hits if h.id in admitted or similarity.get(h.id, 0.0) >= min_similarity]
        kept.sort(key=lambda h: -similarity.get(h.id, 0.0))
        relevance = None
        if fit and by_category is not None:
            category_of = {h.id: str(h.source.get("category_path") or "") for h in (*keyword_hits, *kept)}
            relevance = category_adjusted(similarity, category_of, fit, by_category.weight)
        return SemanticCandidates(
            hits=kept,
            similarity=similarity,
            degraded=degraded,
            relevance=relevance,
            categories=searched,
            query_vector=vector,
            prototypes=prototypes,
        )

    def _in_categories(
        self,
        search: Callable[[dict[str, Any]], EngineResponse],
        vector: Vectors,
        request: SearchRequest,
        shares: dict[str, int],
    ) -> list[Hit]:
        """The nearest products of each given category, as many as its share; none when the k-NN
        query fails (the window keeps what it has)."""
        try:
            with span("retrieve.knn_categories", one_call=True) as knn:
                response = search(knn_by_category_body(vector.tolist(), request, shares))
                knn.set_attribute("quarry.results", len(response.hits))
        except SearchEngineError as exc:
            log.warning("k-NN by category failed", extra={"error": str(exc)})
            return []
        return [from_docvalues(hit) for hit in response.hits]

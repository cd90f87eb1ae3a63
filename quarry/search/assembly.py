"""One way to put the search core together, for the API and for offline code (`make eval`, the
registry's golden gate, the benches): the same stages, caches and breakers wherever a search runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from quarry import connections
from quarry.adapters.artifact_store import ArtifactStore, LocalArtifactStore
from quarry.adapters.cache import KeyValueStore, guarded
from quarry.adapters.search_engine import SearchEngine
from quarry.canary import CanaryTraffic
from quarry.experiments.definitions import Experiment
from quarry.experiments.live import LiveExperiments
from quarry.ltr.feature_log import FeatureLog
from quarry.ltr.features import FeatureExtractor
from quarry.ltr.featureset import load_featureset
from quarry.ltr.serving import LtrRescorer
from quarry.onnx_encoder import load_query_encoder, load_router_encoder
from quarry.privacy import ConsentView, Pseudonyms, ShopperPrivacy, pseudonym_key
from quarry.query_log import QueryLogWriter
from quarry.query_texts import LoggedQueries
from quarry.search.cache import LocalPages, SearchCache
from quarry.search.client_ids import ClientQueryIds
from quarry.search.exploration import PositionExploration
from quarry.search.personalize import AffinityReader, Personalizer, ProductAffinity
from quarry.search.ranking import RankingConfigProvider
from quarry.search.semantic import QueryVectors, SemanticIndex, SemanticRetriever
from quarry.search.service import SearchService
from quarry.settings import Settings
from quarry.shadow import ShadowRunner
from quarry.ubi import UbiLayout
from quarry.understanding.services import QueryUnderstanding


def router_vectors(settings: Settings, kv: KeyValueStore, store: ArtifactStore) -> QueryVectors | None:
    """Queries encoded with the category router's model (docs/query-understanding.md#descriptive-queries);
    None when the catalog's own model routes."""
    if settings.category_router_model in ("", settings.embedding_model):
        return None
    return QueryVectors(
        lambda: load_router_encoder(settings, store),
        guarded(kv, "router_vectors"),
        cache=settings.query_vector_cache,
        unavailable="category router model unavailable: the catalog model routes descriptive queries",
    )


def search_service(
    settings: Settings,
    engine: SearchEngine,
    kv: KeyValueStore,
    model_store: ArtifactStore,
    semantic_index: SemanticIndex,
    query_log: QueryLogWriter,
    privacy: ShopperPrivacy,
    product_affinity: ProductAffinity | None = None,
    feature_log_share: float = 0.0,
    records_engine: SearchEngine | None = None,
    model_traffic: bool = False,
    experiments: Sequence[Experiment] | None = None,
) -> SearchService:
    """`semantic_index`: shared with the recommendations (similar items); `product_affinity`: the
    recommendations' ALS affinity of a user for products. `feature_log_share`: searches whose LTR
    features are logged (into `records_engine`, default `engine`); offline code logs none.
    `model_traffic`: the registry's LTR shadow and canary get their shares of live searches, and a
    share of pages is shown with position-bias exploration (the API); offline code ranks with the
    champion only and shows pages as ranked. `experiments`: the definitions the API runs
    (the search ones apply here; updated while it runs, so even an empty list sets experiments up);
    None, as offline code has it: the live configuration is measured and none runs."""
    query_vectors = QueryVectors(
        lambda: load_query_encoder(settings, model_store),
        guarded(kv, "query_vectors"),
        cache=settings.query_vector_cache,
    )
    understanding = QueryUnderstanding.served(
        settings, model_store, query_vectors.vector, semantic_index.prototypes
    )
    alias = settings.products_alias
    features = FeatureExtractor(engine, alias, load_featureset(settings.ltr_featureset))
    ltr = (
        LtrRescorer(
            model_store,
            features,
            settings.artifact_reload_interval_s,
            settings.ltr_window,
            shadow=ShadowRunner(engine, settings.shadow_share) if model_traffic else None,
            canary=CanaryTraffic(engine, settings.canary_share) if model_traffic else None,
        )
        if settings.ltr_rescore
        else None
    )
    service = SearchService(
        engine=engine,
        alias=alias,
        understanding=understanding,
        ranking=RankingConfigProvider(settings.ranking_config, kv),
        cache=SearchCache(
            guarded(kv, "result_cache"),
            ttl_s=settings.search_cache_ttl_s,
            local=LocalPages(settings.local_cache_entries, settings.local_cache_ttl_s),
        ),
        personalizer=Personalizer(
            AffinityReader(guarded(kv, "online_features"), engine, alias), product_affinity
        ),
        query_log=query_log,
        semantic=SemanticRetriever(
            engine,
            alias,
            query_vectors,
            semantic_index,
            model=settings.embedding_model,
            router_vectors=router_vectors(settings, kv, model_store),
        ),
        query_ids=ClientQueryIds(guarded(kv, "client_query_ids")) if settings.ubi_query_id_check else None,
        privacy=privacy,
        features=features,
        ltr=ltr,
        experiments=None if experiments is None else LiveExperiments(experiments, "search"),
        exploration=(
            PositionExploration(settings.exploration_share, settings.exploration_depth)
            if model_traffic
            else None
        ),
    )
    if feature_log_share > 0:
        service.feature_log = FeatureLog(
            records_engine or engine,
            features,
            service.feature_window,
            feature_log_share,
        )
    return service


@contextmanager
def offline_search_service(
    settings: Settings, artifacts: ArtifactStore | None = None, log_queries: bool = True
) -> Iterator[SearchService]:
    """The search core for offline code (`make eval`, the golden gate, the match-quality curve):
    what the API runs, built the same way, without the HTTP layer. Its queries are logged to UBI like
    the API's (callers search as a synthetic user, which suggestions and warm-up leave out).
    `artifacts`: the model store it reads (default: settings.artifacts_dir), for example one that
    pins a candidate version. `log_queries=False` (benchmarks): records are built and queued as the
    API's are, and never written."""
    engine = connections.search_engine(settings)
    analytics = (
        connections.search_engine(settings, settings.ubi_opensearch_url, dependency="ubi_opensearch")
        if settings.ubi_opensearch_url
        else engine
    )
    kv = connections.redis_store(settings)
    model_store = artifacts or LocalArtifactStore(settings.artifacts_dir)
    query_log = QueryLogWriter(
        analytics,
        capacity=settings.ubi_queue_capacity,
        layout=UbiLayout(analytics, settings.mappings_dir),
        logged=LoggedQueries(analytics),
    )
    query_log.start()
    privacy = ShopperPrivacy(
        Pseudonyms(pseudonym_key(settings.pseudonym_key, settings.var_path)), ConsentView()
    )
    try:
        yield search_service(
            settings,
            engine,
            kv,
            model_store,
            SemanticIndex(model_store, settings.artifact_reload_interval_s),
            query_log,
            privacy,
        )
    finally:
        query_log.stop()
        kv.close()

"""The Litestar application factory. Adapters and services are built once per process in the
lifespan and handed to handlers through dependency injection (app.state), never module globals."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute
from opentelemetry.sdk.trace.export import SpanExporter

from api.admin.controllers import AccessAdminController, AuditController, KeyAdminController
from api.console.controllers import ConsoleController, ConsoleLoginController, login_redirect
from api.console.services import WorkbenchService
from api.events.controllers import EventController, UbiJsEventController
from api.experiments.controllers import ExperimentController
from api.experiments.services import ExperimentAdmin
from api.health.controllers import HealthController
from api.observability.controllers import MetricsController
from api.observability.middleware import metrics_middleware
from api.observability.tracing import tracing_middleware
from api.privacy.controllers import UserPrivacyController
from api.privacy.services import ErasureIncompleteError, UserPrivacyService
from api.problems import (
    bad_request_handler,
    batch_rejected_handler,
    conflict_handler,
    erasure_incomplete_handler,
    http_exception_handler,
    key_store_unavailable_handler,
    service_unavailable_handler,
    unhandled_exception_handler,
)
from api.products.controllers import ProductController
from api.products.services import ProductService
from api.recommendations.controllers import RecommendationController
from api.recommendations.services import RecommendationService
from api.search.controllers import SearchController
from api.search.warmup import CacheWarmup
from api.security.abuse import AbuseProtection, EnumerationGuard
from api.security.auth import API_KEY_HEADER, Authenticator, Gate, LoginRequiredError
from api.security.headers import add_security_headers
from api.security.limits import RateLimitPolicy
from api.storefront.controllers import StorefrontController
from api.storefront.dependencies import static_files, storefront_key, templates
from api.storefront.services import StorefrontService
from api.suggest.controllers import SuggestController
from api.suggest.services import SuggestService
from quarry import connections, process_tuning
from quarry.access_lists import AccessLists, access_index
from quarry.adapters.artifact_store import ArtifactStore, LocalArtifactStore
from quarry.adapters.cache import KeyValueStore, RedisStore, guarded
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.api_keys import ApiKeys, KeyStoreError, OpenSearchKeyStore, keys_index
from quarry.audit import AuditLog, audit_index
from quarry.canary import CanaryTraffic
from quarry.circuit import CircuitBreaker
from quarry.events.service import EventService, EventsNotStoredError
from quarry.events.validation import BatchRejectedError
from quarry.experiments.live import LiveExperiments, load_checked
from quarry.experiments.readout import catalog_prices
from quarry.experiments.store import ExperimentStore, experiments_index
from quarry.logs import configure_logging
from quarry.metrics import ProcessSampler, forget_dead_workers, initialize_series
from quarry.privacy import ConsentView, Pseudonyms, ShopperPrivacy, privacy_index, pseudonym_key
from quarry.privacy_registry import ConsentRefresher, PrivacyRegistry
from quarry.query_log import QueryLogWriter
from quarry.query_texts import LoggedQueries
from quarry.rate_limits import EarlyAdmission, RateLimiter, RedisRateLimits
from quarry.recommendation_log import RecommendationLog
from quarry.records import RecordStoreError
from quarry.search.assembly import search_service
from quarry.search.client_ids import QueryIdConflictError
from quarry.search.ranking import load_config_file
from quarry.search.semantic import SemanticIndex
from quarry.search.service import PageTooDeepError
from quarry.settings import Settings, get_settings
from quarry.shadow import ShadowRunner
from quarry.tracing import configure_tracing, shutdown_tracing
from quarry.ubi import UbiLayout
from quarry.understanding.services import QueryRejectedError
from quarry.user_data import UserData
from quarry.user_tokens import master_secret

log = logging.getLogger("api")


def cors_config(origins: str) -> CORSConfig | None:
    """Browsers may call the API from these origins only; none (the default) sends no CORS headers,
    so only same-origin pages and servers call it."""
    allowed = [origin.strip() for origin in origins.split(",") if origin.strip()]
    if not allowed:
        return None
    # A page reads the limits it is under and whether its user id counted (api/security/users.py).
    exposed = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "Quarry-User-Id"]
    return CORSConfig(
        allow_origins=allowed, allow_methods=["GET", "POST"], expose_headers=exposed, max_age=600
    )


def openapi_config() -> OpenAPIConfig:
    """The document declares both ways to send a key; every operation needs one of them, except
    the health checks (their own `security`)."""
    return OpenAPIConfig(
        title="Quarry",
        version="1.0.0",
        path="/schema",
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key as `Authorization: Bearer <key id>.<secret>`",
                ),
                "apiKey": SecurityScheme(
                    type="apiKey",
                    name=API_KEY_HEADER,
                    security_scheme_in="header",
                    description="The same key in the X-API-Key header",
                ),
            }
        ),
        security=[{"bearer": []}, {"apiKey": []}],
    )


def create_app(
    settings: Settings | None = None,
    engine: SearchEngine | None = None,
    store: KeyValueStore | None = None,
    artifacts: ArtifactStore | None = None,
    span_exporter: SpanExporter | None = None,
    ubi_engine: SearchEngine | None = None,
    keys: ApiKeys | None = None,
) -> Litestar:
    """`span_exporter` replaces the configured tracing exporter (tests read spans from memory).
    `ubi_engine` holds the UBI query and event logs; without it they go where
    QUARRY_UBI_OPENSEARCH_URL says, or to the search cluster. `keys` verifies API keys; without it
    they are read from the search cluster's key index."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, service="quarry-api", stream=sys.stdout)

    gate = Gate()  # the before-request hook; what it checks with is installed at start-up

    @asynccontextmanager
    async def services(app: Litestar) -> AsyncIterator[None]:
        # In the worker process: the span exporter's thread must not be forked.
        configure_tracing(
            "quarry-api",
            settings.tracing_exporter,
            settings.tracing_endpoint,
            settings.tracing_sample_ratio,
            span_exporter,
            settings.tracing_honour_caller_sampling,
        )
        search_engine = engine or connections.search_engine(
            settings, pool_size=settings.opensearch_pool_size, breaker=CircuitBreaker("opensearch")
        )
        analytics = ubi_engine or (
            connections.search_engine(
                settings,
                settings.ubi_opensearch_url,
                settings.opensearch_pool_size,
                breaker=CircuitBreaker("ubi_opensearch"),  # its outage must not stop searches
                dependency="ubi_opensearch",
            )
            if settings.ubi_opensearch_url
            else search_engine
        )
        # A store the caller passed stays theirs; one made here is closed at shutdown (an app made in
        # process, as make eval and the registry's golden gate do, must not leak its connections).
        owned_kv = (
            connections.redis_store(settings, pool_size=settings.redis_pool_size) if store is None else None
        )
        kv: KeyValueStore = owned_kv if owned_kv is not None else store  # type: ignore[assignment]
        model_store = artifacts or LocalArtifactStore(settings.artifacts_dir)
        semantic_index = SemanticIndex(model_store, settings.artifact_reload_interval_s)
        layout = UbiLayout(analytics, settings.mappings_dir)
        try:
            layout.ensure()  # readers (Dashboards, pipelines) find the stores from the first minute
        except SearchEngineError as exc:
            log.warning(
                "UBI stores not ensured at start-up; the first write retries", extra={"error": str(exc)}
            )
        logged_queries = LoggedQueries(analytics)
        query_log = QueryLogWriter(
            analytics, capacity=settings.ubi_queue_capacity, layout=layout, logged=logged_queries
        )
        query_log.start()
        app.state.settings = settings
        resp = connections.resp_client(settings, timeout_s=settings.rate_limit_timeout_ms / 1000)
        limiter = RateLimiter(
            RedisRateLimits(resp, batch_interval_s=settings.rate_limit_batch_ms / 1000),
            early=EarlyAdmission() if settings.rate_limit_early_admission else None,
        )
        app.state.audit = AuditLog(search_engine, audit_index(settings.security_indices_prefix))
        access_lists = AccessLists(search_engine, access_index(settings.security_indices_prefix))
        access_lists.start()
        app.state.access_lists = access_lists
        abuse = AbuseProtection(
            access_lists,
            app.state.audit,
            EnumerationGuard(resp, settings.abuse_enumeration_run, settings.abuse_enumeration_cooldown_s),
        )
        prefix = settings.security_indices_prefix
        app.state.api_keys = keys or ApiKeys(OpenSearchKeyStore(search_engine, keys_index(prefix)))
        app.state.user_token_master = master_secret(settings.user_token_secret, settings.var_path)
        gate.install(
            Authenticator(
                app.state.api_keys,
                enabled=settings.auth == "on",
                user_token_master=app.state.user_token_master,
            ),
            RateLimitPolicy.from_settings(limiter, settings) if settings.rate_limits else None,
            abuse,
        )
        app.state.gate = gate
        if settings.auth == "off":
            log.warning(
                "QUARRY_AUTH=off: every route answers anyone without an API key; for local experiments only"
            )
        consent_view = ConsentView()
        privacy_registry = PrivacyRegistry(search_engine, privacy_index(prefix))
        consent_refresher = ConsentRefresher(privacy_registry, consent_view, settings.consent_refresh_s)
        consent_refresher.start()
        pseudonyms = Pseudonyms(pseudonym_key(settings.pseudonym_key, settings.var_path))
        app.state.shopper_privacy = ShopperPrivacy(pseudonyms, consent_view)
        app.state.engine = search_engine
        app.state.ubi_engine = analytics if analytics is not search_engine else None
        app.state.store = kv
        # Checked whole against the shipped ranking configuration: refused, none runs (logged).
        shipped_ranking = load_config_file(settings.ranking_config)
        file_experiments = load_checked(settings.experiments_dir, shipped_ranking)
        app.state.experiments = list(file_experiments)  # in force: files, then the admin API's
        recommendation_experiments = LiveExperiments(app.state.experiments, "recommendations")
        recommendations = RecommendationService(
            model_store,
            guarded(kv, "recommendation_features"),
            settings.artifact_reload_interval_s,
            content_neighbours=semantic_index.neighbours,
            privacy=app.state.shopper_privacy,
            shadow=ShadowRunner(search_engine, settings.shadow_share),
            canary=CanaryTraffic(search_engine, settings.canary_share),
            experiments=recommendation_experiments,
            records=RecommendationLog(analytics),
        )
        app.state.recommendation_service = recommendations
        app.state.search_service = search_service(
            settings,
            search_engine,
            kv,
            model_store,
            semantic_index,
            query_log,
            app.state.shopper_privacy,
            recommendations.product_affinity,
            feature_log_share=settings.ltr_feature_log_share,
            records_engine=analytics,
            model_traffic=True,
            experiments=app.state.experiments,
        )
        search_experiments = app.state.search_service.experiments
        app.state.experiment_admin = ExperimentAdmin(
            ExperimentStore(search_engine, experiments_index(prefix)),
            file_experiments,
            app.state.experiments,
            [recommendation_experiments, *([search_experiments] if search_experiments is not None else [])],
            app.state.search_service.ranking.get,
            settings.experiments_refresh_s,
        )
        app.state.experiment_admin.start()
        # Kept so tests (and a debugger) can tell whether start-up searches are still running.
        app.state.cache_warmup = (
            CacheWarmup(app.state.search_service, analytics, settings.cache_warm_queries).start()
            if settings.cache_warm_queries
            else None
        )
        app.state.product_service = ProductService(search_engine, settings.products_alias)
        app.state.event_service = EventService(
            analytics,
            settings.events_max_age_days,
            settings.events_extra_actions,
            store=kv,
            layout=layout,
            logged_queries=logged_queries,
            privacy=app.state.shopper_privacy,
        )
        app.state.storefront_service = StorefrontService(
            app.state.search_service,
            recommendations,
            app.state.product_service,
            storefront_key(settings, app.state.api_keys) if settings.auth == "on" else None,
        )
        gate.storefront_key = app.state.storefront_service.api_key
        app.state.workbench_service = WorkbenchService(
            app.state.search_service,
            analytics,
            app.state.experiments,
            settings.judgments_file,
            catalog_prices(search_engine, settings.products_alias),
        )
        app.state.suggest_service = SuggestService(model_store, settings.artifact_reload_interval_s)
        app.state.user_privacy = UserPrivacyService(
            pseudonyms,
            privacy_registry,
            consent_view,
            UserData(analytics, kv, model_store, privacy_registry, canary_engine=search_engine),
        )
        forget_dead_workers()
        initialize_series(
            (route.path_format, method)
            for route in app.routes
            if isinstance(route, HTTPRoute)
            for method in route.methods
            if method not in ("HEAD", "OPTIONS")
        )
        process_sampler = ProcessSampler()
        process_sampler.start()
        process_tuning.tune_for_latency()
        process_tuning.freeze_long_lived("start-up")
        try:
            yield
        finally:
            if app.state.cache_warmup is not None:
                app.state.cache_warmup.stop()
            await limiter.aclose()
            access_lists.stop()
            consent_refresher.stop()
            app.state.experiment_admin.close()
            query_log.stop()
            app.state.search_service.close()
            recommendations.close()
            if store is None and isinstance(kv, RedisStore):
                kv.close()
            process_sampler.stop()
            process_tuning.unfreeze()
            shutdown_tracing()

    return Litestar(
        route_handlers=[
            HealthController,
            SearchController,
            ProductController,
            SuggestController,
            EventController,
            UbiJsEventController,
            RecommendationController,
            MetricsController,
            KeyAdminController,
            AccessAdminController,
            AuditController,
            ExperimentController,
            UserPrivacyController,
            StorefrontController,
            ConsoleController,
            ConsoleLoginController,
            static_files(),
        ],
        template_config=templates(),
        lifespan=[services],
        before_request=gate.authorize,
        middleware=[tracing_middleware, metrics_middleware],
        exception_handlers={
            HTTPException: http_exception_handler,
            LoginRequiredError: login_redirect,
            QueryRejectedError: bad_request_handler,
            PageTooDeepError: bad_request_handler,
            BatchRejectedError: batch_rejected_handler,
            QueryIdConflictError: conflict_handler,
            SearchEngineError: service_unavailable_handler,
            KeyStoreError: key_store_unavailable_handler,
            EventsNotStoredError: service_unavailable_handler,
            RecordStoreError: service_unavailable_handler,
            ErasureIncompleteError: erasure_incomplete_handler,
            Exception: unhandled_exception_handler,
        },
        openapi_config=openapi_config(),
        logging_config=None,  # quarry.logs owns logging: one JSON line per record
        debug=False,
        before_send=[add_security_headers],
        cors_config=cors_config(settings.cors_origins),
        request_max_body_size=settings.max_body_bytes,
    )

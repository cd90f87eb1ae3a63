"""The Litestar application factory. Adapters are built once per process and handed to services
through dependency injection (app.state), never through module globals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from api.health.controllers import HealthController
from api.problems import http_exception_handler, trace_id_middleware, unhandled_exception_handler
from quarry.adapters.cache import KeyValueStore, RedisStore
from quarry.adapters.search_engine import OpenSearchEngine, SearchEngine
from quarry.logs import configure_logging
from quarry.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None,
    engine: SearchEngine | None = None,
    store: KeyValueStore | None = None,
) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def adapters(app: Litestar) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = engine or OpenSearchEngine(settings.opensearch_url, settings.opensearch_timeout_s)
        app.state.store = store or RedisStore(settings.redis_url)
        yield

    return Litestar(
        route_handlers=[HealthController],
        lifespan=[adapters],
        middleware=[trace_id_middleware],
        exception_handlers={HTTPException: http_exception_handler, Exception: unhandled_exception_handler},
        openapi_config=OpenAPIConfig(title="Quarry", version="1.0.0", path="/schema"),
        logging_config=None,  # quarry.logs owns logging: one JSON line per record
        debug=False,
    )

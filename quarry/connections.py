"""Clients of OpenSearch and Redis as the settings describe them, credentials and TLS included: the
API, the pipelines, the CLI and the benchmarks build them here, so a secured cluster needs its
settings once, not a change in each tool."""

from __future__ import annotations

from opensearchpy import OpenSearch

from quarry.adapters.cache import RedisStore
from quarry.adapters.resp import RespClient
from quarry.adapters.search_engine import OpenSearchEngine
from quarry.circuit import CircuitBreaker
from quarry.settings import Settings


def _basic_auth(settings: Settings) -> tuple[str, str] | None:
    if not settings.opensearch_username:
        return None
    return settings.opensearch_username, settings.opensearch_password


def search_engine(
    settings: Settings,
    url: str | None = None,
    pool_size: int = 16,
    breaker: CircuitBreaker | None = None,
    dependency: str = "opensearch",
) -> OpenSearchEngine:
    """The search cluster (or `url`: the UBI analytics cluster, which shares its credentials)."""
    return OpenSearchEngine(
        url or settings.opensearch_url,
        settings.opensearch_timeout_s,
        pool_size,
        breaker=breaker,
        dependency=dependency,
        basic_auth=_basic_auth(settings),
        ca_file=settings.opensearch_ca_file or None,
    )


def raw_opensearch(settings: Settings, url: str | None = None, timeout_s: float = 60.0) -> OpenSearch:
    """A bare opensearch-py client with the same credentials and CA (the benchmarks' baselines)."""
    return OpenSearch(
        hosts=[url or settings.opensearch_url],
        timeout=timeout_s,
        http_auth=_basic_auth(settings),
        verify_certs=True,
        ca_certs=settings.opensearch_ca_file or None,
    )


def ubi_engine(settings: Settings) -> OpenSearchEngine:
    return search_engine(settings, settings.ubi_url)


def redis_store(
    settings: Settings, timeout_s: float = 0.5, pool_size: int = 50, url: str | None = None
) -> RedisStore:
    return RedisStore(
        url or settings.redis_url,
        timeout_s=timeout_s,
        pool_size=pool_size,
        password=settings.redis_password or None,
        ca_file=settings.redis_ca_file or None,
    )


def resp_client(settings: Settings, timeout_s: float, url: str | None = None) -> RespClient:
    return RespClient(
        url or settings.redis_url,
        timeout_s=timeout_s,
        password=settings.redis_password or None,
        ca_file=settings.redis_ca_file or None,
    )

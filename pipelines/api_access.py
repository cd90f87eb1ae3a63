"""How Quarry's own tools call an API that wants keys (docs/security.md#keys-for-quarrys-own-tools):
each run issues itself a key that expires in hours and is revoked when the run ends, so no tool
reads a long-lived secret from a file."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from quarry import connections
from quarry.api_keys import SCOPES, ApiKeys, OpenSearchKeyStore, Scope, keys_index, temporary_key
from quarry.settings import Settings

if TYPE_CHECKING:
    import httpx


def cluster_keys(settings: Settings) -> ApiKeys:
    """The key store the API reads: the search cluster's key index."""
    index = keys_index(settings.security_indices_prefix)
    return ApiKeys(OpenSearchKeyStore(connections.search_engine(settings), index))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TOOL_PER_MINUTE = 1_000_000
"""A tool's own key limit: tools search as fast as the machine lets them."""
TOOL_SCOPES: tuple[Scope, ...] = tuple(scope for scope in SCOPES if scope != "admin")
"""What a tool may do: everything but issuing keys."""


@contextmanager
def tool_token(settings: Settings, tool: str, scopes: tuple[Scope, ...] = TOOL_SCOPES) -> Iterator[str]:
    """A key for one run of `tool`, revoked afterwards. With the `server` scope it is limited per key
    only (at TOOL_PER_MINUTE); without it, as a web page's key, per address too."""
    with temporary_key(cluster_keys(settings), tool, scopes, per_minute=TOOL_PER_MINUTE) as token:
        yield token


def api_client(settings: Settings, token: str, base_url: str | None = None) -> httpx.Client:
    """A client of the running API (make up's, or `base_url`) that sends `token` and trusts the
    API's own CA when it serves TLS."""
    import httpx

    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=settings.api_tls_ca_file) if settings.api_tls_ca_file else True
    )
    return httpx.Client(
        base_url=base_url or settings.api_base_url, timeout=60, headers=bearer(token), verify=verify
    )

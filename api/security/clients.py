"""Who a request comes from, as the limits and the abuse checks see it.

The client address is the peer's, or what `X-Forwarded-For` says when the peer is a trusted proxy
(QUARRY_TRUSTED_PROXIES): uvicorn resolves it before the request reaches the app (api/__main__.py),
so a client cannot pick its own address by sending the header.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection

ACCESS_STATE_KEY = "access"
"""Where the guard leaves the access-list decision (allow, deny or None) for the limits."""


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    client = connection.scope.get("client")
    return str(client[0]) if client else "unknown"


def subject_address(address: str) -> str:
    """Whose window a request counts in: the address, or for IPv6 its /64 (one subscriber commonly
    holds a whole /64, and would otherwise have 2^64 windows). An IPv4 client of a dual-stack
    listener (`::ffff:198.51.100.7`) is its IPv4 address, not one /64 shared by every IPv4 client."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address) + "/64"

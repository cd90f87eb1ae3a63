"""Security headers on every response, added as the response starts (no middleware layer: a hook on
the `http.response.start` message costs a few microseconds)."""

from __future__ import annotations

from litestar.types import Message, Scope

from api.security.limits import STATE_KEY, rate_limit_headers
from api.security.users import IGNORED_HEADER, IGNORED_STATE_KEY

# The API answers JSON only: nothing may run, load or frame it.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The OpenAPI viewer at /schema loads its scripts and styles from a CDN.
DOCS_CSP = b"; ".join(
    [
        b"default-src 'self' https://cdn.jsdelivr.net https://unpkg.com",
        b"img-src 'self' data: https:",
        b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com https://fonts.googleapis.com",
        b"font-src https://fonts.gstatic.com",
        b"frame-ancestors 'none'",
    ]
)
# The storefront's pages: their own script, styles and API calls, nothing from elsewhere, no inline code.
UI_CSP = b"; ".join(
    [
        b"default-src 'none'",
        b"script-src 'self'",
        b"style-src 'self'",
        b"img-src 'self' data:",
        b"connect-src 'self'",
        b"form-action 'self'",
        b"base-uri 'none'",
        b"frame-ancestors 'none'",
    ]
)
UI_PREFIX = "/ui"
HSTS = b"max-age=31536000; includeSubDomains"
COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
DOCS_PREFIX = "/schema"
ADMIN_PREFIX = "/admin/"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """HSTS only over HTTPS: browsers ignore it over HTTP, and a local plain-HTTP setup must not pin
    HTTPS for a host name."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    headers.extend(COMMON)
    path = scope.get("path", "")
    csp = DOCS_CSP if path.startswith(DOCS_PREFIX) else UI_CSP if path.startswith(UI_PREFIX) else API_CSP
    headers.append((b"content-security-policy", csp))
    if path.startswith(ADMIN_PREFIX):  # keys, secrets: never in a cache
        headers.append((b"cache-control", b"no-store"))
    if scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", HSTS))
    state = scope.get("state")
    verdict = state.get(STATE_KEY) if state else None
    if verdict is not None:
        headers.extend(rate_limit_headers(verdict))
    if state and state.get(IGNORED_STATE_KEY):
        headers.append(IGNORED_HEADER)
    message["headers"] = headers

"""Authentication on every route (docs/security.md#authentication).

One app-level guard (the before-request hook) runs before any handler decodes its input: it finds
the key in `Authorization: Bearer …` or `X-API-Key`, verifies it, checks the route's scope and leaves
the caller on the request's state for handlers that need its filters or scopes. Routes say what they
need in `opt`: `scope` (a scope the key must hold) or `public` (health checks only). A route that says
nothing still needs a valid key, so a route added without thought is never open.

A verified key is answered from the worker's memory (microseconds); a key the worker has not seen
for `CACHE_TTL_S` is read from the store in a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from litestar.connection import ASGIConnection, Request
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler

from api.security.abuse import AbuseProtection
from api.security.clients import ACCESS_STATE_KEY, client_address, subject_address
from quarry.api_keys import (
    NO_FILTERS,
    SCOPES,
    ApiKey,
    ApiKeys,
    FixedFilters,
    KeyStoreError,
    StoreReadNeededError,
)
from quarry.timestamps import parse_iso
from quarry.user_tokens import SigningSecret, key_secret

if TYPE_CHECKING:  # the limits read the caller this module defines
    from api.security.limits import RateLimitPolicy

log = logging.getLogger("api.auth")

BEARER = "Bearer"
API_KEY_HEADER = "X-API-Key"
_AUTHORIZATION = b"authorization"
_X_API_KEY = b"x-api-key"
CALLER_STATE_KEY = "caller"
"""Where the guard leaves the caller, in the scope's state (read as a dict: Litestar's `State` view
is built anew on every access)."""


class Caller(msgspec.Struct, frozen=True):
    """Who is calling: the key's id (None when authentication is off), what it may do, and the
    filters every search it makes carries."""

    key_id: str | None
    scopes: frozenset[str]
    filters: FixedFilters = NO_FILTERS
    search_per_minute: int | None = None
    recommend_per_minute: int | None = None
    user_secrets: tuple[SigningSecret, ...] = ()
    """What the key's user tokens may be signed with: its current secret's, and during a rotation's
    grace period the previous one's (quarry/user_tokens.py)."""

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_backend(self) -> bool:
        """A backend's key (`server`): one address calling for many shoppers, so neither the
        per-address limits nor the abuse checks apply to it. Never true with authentication off."""
        return self.key_id is not None and "server" in self.scopes

    @classmethod
    def of(cls, key: ApiKey, master: bytes | None = None) -> Caller:
        user_secrets: tuple[SigningSecret, ...] = ()
        if master is not None:
            user_secrets = (SigningSecret(key_secret(master, key.key_id, key.secret_sha256)),)
            if key.previous_secret_sha256 is not None and key.previous_valid_until is not None:
                until = parse_iso(key.previous_valid_until)
                previous = key_secret(master, key.key_id, key.previous_secret_sha256)
                user_secrets += (SigningSecret(previous, until.timestamp()),)
        return cls(
            key_id=key.key_id,
            scopes=frozenset(key.scopes),
            filters=key.fixed_filters(),
            search_per_minute=key.search_per_minute,
            recommend_per_minute=key.recommend_per_minute,
            user_secrets=user_secrets,
        )


ANONYMOUS = Caller(key_id=None, scopes=frozenset())
"""No key yet: limited by address only."""
ANYONE = Caller(key_id=None, scopes=frozenset(SCOPES) - {"admin"})
"""The caller of every request when authentication is off: everything but the admin API, which
would otherwise let anyone issue keys that keep working once authentication is back on."""
KEY_READS_IN_FLIGHT = 4
"""Store reads for keys a worker has not seen, at once: a flood of made-up keys queues here instead
of taking the threads searches need."""


class Gate:
    """What the before-request hook works with: made with the app, filled at start-up (`install`),
    and kept in the app's state for the rare paths that need it. The hook is this object's bound
    method, so a request finds everything without a `State` lookup (Litestar's `State` answers
    each through `__getattr__`, about 0.8 µs, and a cached search made three). `rate_limits` is
    None with QUARRY_RATE_LIMITS=false; `abuse` None where no access lists are kept."""

    __slots__ = ("abuse", "authenticator", "rate_limits", "storefront_key")

    def __init__(
        self,
        authenticator: Authenticator | None = None,
        rate_limits: RateLimitPolicy | None = None,
        abuse: AbuseProtection | None = None,
    ) -> None:
        self.storefront_key: str | None = None
        """The key a storefront page (`opt["storefront"]`) acts with when its request names none."""
        self.install(authenticator, rate_limits, abuse)

    def install(
        self,
        authenticator: Authenticator | None,
        rate_limits: RateLimitPolicy | None,
        abuse: AbuseProtection | None,
    ) -> None:
        self.authenticator = authenticator
        self.rate_limits = rate_limits
        self.abuse = abuse

    async def authorize(self, request: Request[Any, Any, Any]) -> None:
        """`require_key` as the app's before-request hook, which runs where a guard would (after
        routing, before the handler decodes anything) but is handed the request alone: Litestar
        gives each guard a copy of the route handler, copied on every request (about 3 % of a
        cached search's CPU)."""
        await require_key(request, request.scope["route_handler"], self)


def gate_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Gate:
    gate: Gate = connection.app.state.gate
    return gate


def presented_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key in the request's raw headers (read without building a headers object: this runs on
    every request). `Authorization` takes the Bearer scheme only."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == _AUTHORIZATION:
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif lowered == _X_API_KEY and value.strip():
            return value.decode("latin-1").strip()
    return None


class Authenticator:
    """Verifies keys for the guard; `enabled=False` (QUARRY_AUTH=off) lets every request through.
    `user_token_master`: what keys' user-token secrets derive from (None: no user tokens)."""

    def __init__(
        self, keys: ApiKeys | None, enabled: bool = True, user_token_master: bytes | None = None
    ) -> None:
        if enabled and keys is None:
            raise ValueError("authentication needs a key store")
        self.keys = keys
        self.enabled = enabled
        self._master = user_token_master
        self._callers: dict[str, tuple[ApiKey, Caller | None]] = {}
        self._reads = anyio.CapacityLimiter(KEY_READS_IN_FLIGHT)

    def _caller(self, key: ApiKey) -> Caller | None:
        """One Caller per stored record, remade only when the record changed (rotation, revocation);
        None for a record whose filters this version cannot read (the key would be unrestricted)."""
        known = self._callers.get(key.key_id)
        if known is not None and known[0] is key:
            return known[1]
        try:
            caller = Caller.of(key, self._master)
        except msgspec.ValidationError as exc:
            log.error(
                "an API key's fixed filters are unreadable; the key is refused",
                extra={"key_id": key.key_id, "error": str(exc)},
            )
            return None
        if len(self._callers) > 10_000:
            self._callers.clear()
        self._callers[key.key_id] = (key, caller)
        return caller

    async def authenticate(
        self,
        token: str,
        connection: ASGIConnection[Any, Any, Any, Any],
        policy: RateLimitPolicy | None = None,
    ) -> Caller | None:
        """A key this worker verified lately is answered from memory; any other is read from the store
        in a thread. An id the worker knows no key under is read only after the client address's
        window of such reads admits it (`policy`; none: not limited): made-up keys cost a store read
        each, so they are limited before any key is known (refreshing a known key every 10 s is not)."""
        if self.keys is None:  # enabled without keys is refused in __init__
            raise KeyStoreError("no key store")
        try:
            key = self.keys.verify(token, may_read=False)
        except StoreReadNeededError as needed:
            if policy is not None and not needed.known:  # a guess, not a known key's refresh
                await policy.check(connection, "key_reads", ANONYMOUS)
            key = await anyio.to_thread.run_sync(self.keys.verify, token, limiter=self._reads)
        return self._caller(key) if key is not None else None


CONSOLE_COOKIE = "quarry_console"
"""Where the console's login page keeps a debug key for the browser (HttpOnly, SameSite=Strict)."""


class LoginRequiredError(NotAuthorizedException):
    """A console page (`opt["console"]`) asked for without a working key: the browser is sent to
    the login page rather than shown a 401 body."""


def unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail, headers={"WWW-Authenticate": f'{BEARER} realm="quarry"'})


async def require_key(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler, gate: Gate
) -> None:
    """The app-level guard: 401 without a valid key, 403 without the route's scope."""
    opt = handler.opt
    if opt.get("public"):
        return
    if gate.abuse is not None:
        await _screen(connection, gate.abuse)
    authenticator = gate.authenticator
    if authenticator is None:  # not started yet: nothing is served before start-up ends
        raise KeyStoreError("the API is starting")
    if not authenticator.enabled:
        connection.scope["state"][CALLER_STATE_KEY] = ANYONE
        scope = opt.get("scope")
        if scope is not None and not ANYONE.may(scope):
            raise PermissionDeniedException(f"the {scope!r} scope needs authentication (QUARRY_AUTH=on)")
        await _limit(connection, opt, ANYONE, gate)
        return
    token = presented_token(connection.scope["headers"])
    console = bool(opt.get("console"))
    if token is None and console:
        token = connection.cookies.get(CONSOLE_COOKIE)
        if not token:
            raise LoginRequiredError("the console needs a key with the 'debug' scope")
    if token is None and opt.get("storefront"):
        token = gate.storefront_key
        if token is None:
            raise ServiceUnavailableException(
                "the storefront has no key: set QUARRY_STOREFRONT_KEY (make up writes one)"
            )
    if token is None:
        raise unauthorized(f"an API key is required: send Authorization: Bearer <key> or {API_KEY_HEADER}")
    caller = await authenticator.authenticate(token, connection, gate.rate_limits)
    if caller is None and console:
        raise LoginRequiredError("the console's key is unknown, revoked or expired")
    if caller is None:
        raise unauthorized("the API key is unknown, revoked or expired")
    scope = opt.get("scope")
    if scope is not None and not caller.may(scope):
        raise PermissionDeniedException(f"this API key lacks the {scope!r} scope")
    if opt.get("unfiltered_keys_only") and not caller.filters.empty:
        raise PermissionDeniedException("this route cannot keep to the API key's fixed filters")
    connection.scope["state"][CALLER_STATE_KEY] = caller
    await _limit(connection, opt, caller, gate)


async def _screen(connection: ASGIConnection[Any, Any, Any, Any], abuse: AbuseProtection) -> None:
    """The deny list, before any key is looked at: a denied client costs no key-store read."""
    address = client_address(connection)
    match = abuse.decide(address)
    if match is None:
        return
    connection.scope["state"][ACCESS_STATE_KEY] = match.list
    if match.list == "deny":
        where = f"{connection.scope.get('method', '')} {connection.url.path}; denied by {match.network}"
        await abuse.blocked("denied", address, None, where, episode=match.network)
        raise PermissionDeniedException("requests from this address are denied")


async def _limit(
    connection: ASGIConnection[Any, Any, Any, Any], opt: dict[str, Any], caller: Caller, gate: Gate
) -> None:
    limited = opt.get("rate_limit")
    policy = gate.rate_limits
    if limited is not None and policy is not None:
        waiting = policy.admit_early(connection, limited, caller)
        if waiting is not None:
            await policy.check(connection, limited, caller, waiting)
    if opt.get("enumeration_guarded"):
        await _guard_enumeration(connection, caller, gate.abuse)


async def _guard_enumeration(
    connection: ASGIConnection[Any, Any, Any, Any], caller: Caller, abuse: AbuseProtection | None
) -> None:
    """Product pages requested in (near-)sequence by one client block it from them for a cool-down
    (api/security/abuse.py); backends and allow-listed addresses are not watched."""
    if abuse is None or abuse.enumeration is None:
        return
    if caller.is_backend or connection.scope["state"].get(ACCESS_STATE_KEY) == "allow":
        return
    guard = abuse.enumeration
    address = subject_address(client_address(connection))
    verdict = await guard.check(address, str(connection.path_params.get("product_id", "")))
    if verdict.blocked:
        retry = str(max(1, math.ceil(verdict.retry_after_s)))
        await abuse.blocked("enumeration", address, caller.key_id, f"blocked for {retry} s", verdict.started)
        raise TooManyRequestsException(
            f"product pages are being requested in sequence from this client; retry in {retry} s",
            headers={"Retry-After": retry},
        )


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller the guard admitted."""
    caller: Caller = connection.scope["state"][CALLER_STATE_KEY]
    return caller

"""API keys: who may call Quarry, for what, and within which limits (docs/security.md).

A key is shown once, as `<key id>.<secret>` (`qk_3f9a1c2b04de.Zx…`). The key id is the visible prefix
that names it in lists, logs and the admin API; the secret is 256 random bits and is stored only as
its SHA-256. A slow password hash would buy nothing here: guessing a random 256-bit secret is
hopeless at any speed, while a fast hash keeps verification at a microsecond on every request.

Keys live in a durable store (the `quarry-api-keys` index: OpenSearch acknowledges a write once its
translog is fsynced) and every API worker keeps the records it verified for a few seconds, so a
revocation reaches every worker within `CACHE_TTL_S`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.lru import Lru
from quarry.records import ensure_index
from quarry.timestamps import iso_utc, parse_iso

Scope = Literal["search", "recommend", "events", "admin", "debug", "metrics", "server"]
# `metrics` lets a scraper read /metrics and nothing else: Prometheus should not hold an admin key.
# `server` marks a key held by a backend (the shop's server, Quarry's own tools): its requests come
# from one address on behalf of many shoppers, so they are limited per key, not per address.
SCOPES: tuple[Scope, ...] = ("search", "recommend", "events", "admin", "debug", "metrics", "server")
KEY_ID_PREFIX = "qk_"
KEY_ID = re.compile(r"qk_[0-9a-f]{12}")


def keys_index(prefix: str) -> str:
    """The key index of a deployment's QUARRY_SECURITY_INDICES_PREFIX."""
    return f"{prefix}-api-keys"


KEYS_INDEX = keys_index("quarry")
CACHE_TTL_S = 10.0
REREAD_AFTER_MISMATCH_S = 1.0
CACHED_KEYS = 10_000
FilterValue = str | bool | float | list[str]
# What a key's fixed filters may hold: the search parameters a partner's view is made of.
FILTER_KINDS: dict[str, type] = {
    "brand": list,
    "category": list,
    "in_stock": bool,
    "price_min": float,
    "price_max": float,
    "rating_min": float,
}
log = logging.getLogger("quarry.api_keys")


class FixedFilters(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """A key's filters in typed form, as searches apply them: on top of the request's own filters
    (an AND), so a request can narrow them but never widen them. Names match FILTER_KINDS."""

    brand: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    in_stock: bool | None = None
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None

    @property
    def empty(self) -> bool:
        return self == NO_FILTERS


NO_FILTERS = FixedFilters()


class StoreReadNeededError(Exception):
    """Verification needs a key-store read, which the caller asked not to do here (the API's event
    loop must not block on the store; it repeats the verification in a worker thread). `known`: the
    worker holds a record of a real key under that id (a refresh, not a guess)."""

    def __init__(self, key_id: str, known: bool) -> None:
        super().__init__(key_id)
        self.known = known


class KeyInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """What anyone may see of a key: everything but its secrets. Scopes are kept as strings: a scope
    a newer version adds grants nothing here instead of making the key unreadable."""

    key_id: str
    owner: str
    scopes: tuple[str, ...]
    created_at: str
    description: str = ""
    expires_at: str | None = None
    revoked_at: str | None = None
    previous_valid_until: str | None = None
    """Until when the secret a rotation replaced still works (the grace period)."""
    filters: dict[str, FilterValue] = msgspec.field(default_factory=dict)
    """Filters every request with this key gets and cannot widen (a partner's brand, `in_stock`)."""
    search_per_minute: int | None = None
    """This key's own search limit; None: the default per-key limit."""
    recommend_per_minute: int | None = None

    def info(self) -> KeyInfo:
        return KeyInfo(**{name: getattr(self, name) for name in KeyInfo.__struct_fields__})

    def fixed_filters(self) -> FixedFilters:
        return msgspec.convert(self.filters, FixedFilters, strict=False) if self.filters else NO_FILTERS

    def active(self, now: dt.datetime) -> bool:
        """Not revoked and not expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or now < parse_iso(self.expires_at))


class ApiKey(KeyInfo, frozen=True, omit_defaults=True, kw_only=True):
    """A key as stored: its secrets only as hashes."""

    secret_sha256: str
    previous_secret_sha256: str | None = None

    def __repr__(self) -> str:  # never the hashes: they would reach logs and tracebacks
        return f"ApiKey({self.key_id}, owner={self.owner!r}, scopes={self.scopes})"


class IssuedKey(msgspec.Struct, frozen=True):
    """A new or rotated key: the only time its secret is seen."""

    key: ApiKey
    token: str

    def __repr__(self) -> str:
        return f"IssuedKey({self.key.key_id}, token=<hidden>)"


class Stored(msgspec.Struct, frozen=True):
    """A key with the version it was read at, for a write that must not undo another one."""

    key: ApiKey
    version: str


class KeyStoreError(RuntimeError):
    """The key store did not answer: authentication cannot decide (a 503, never a 401)."""


class KeyConflictError(RuntimeError):
    """The key id is taken (on create), or the key changed since it was read (on replace)."""


@runtime_checkable
class KeyStore(Protocol):
    def create(self, key: ApiKey) -> None: ...
    def get(self, key_id: str) -> Stored | None: ...
    def replace(self, key: ApiKey, version: str) -> None: ...
    def all(self) -> list[ApiKey]: ...


def _readable(source: Any) -> ApiKey | None:
    """A stored document as a key; None (logged) when this version cannot read it."""
    try:
        return msgspec.convert(source, ApiKey)
    except msgspec.ValidationError as exc:
        log.error(
            "an API key document is unreadable",
            extra={"key_id": str(source.get("key_id")), "error": str(exc)},
        )
        return None


class OpenSearchKeyStore:
    """Keys as documents of one small index, written with `refresh=wait_for`, so a key works on every
    worker the moment it is issued and survives any restart. Creation refuses a taken id and a
    replacement refuses a key changed since it was read (OpenSearch's sequence numbers), so a rotation
    can never undo a revocation that happened in between."""

    MAPPING: dict[str, Any] = {  # noqa: RUF012 - a constant
        "settings": {
            "index": {"number_of_shards": 1, "number_of_replicas": 0, "translog.durability": "request"}
        },
        "mappings": {
            "dynamic": False,
            "properties": {
                "key_id": {"type": "keyword"},
                "owner": {"type": "keyword"},
                "scopes": {"type": "keyword"},
                "created_at": {"type": "date"},
                "expires_at": {"type": "date"},
                "revoked_at": {"type": "date"},
            },
        },
    }

    def __init__(self, engine: SearchEngine, index: str = KEYS_INDEX) -> None:
        self._engine = engine
        self._index = index
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            ensure_index(self._engine, self._index, self.MAPPING)
            self._ready = True

    def _write(self, path: str, key: ApiKey) -> None:
        try:
            self._ensure()
            self._engine.request("PUT", path, msgspec.to_builtins(key))
        except SearchEngineError as exc:
            if exc.status == 409:
                raise KeyConflictError(f"API key {key.key_id} exists or changed meanwhile") from exc
            raise KeyStoreError(str(exc)) from exc

    def create(self, key: ApiKey) -> None:
        self._write(f"/{self._index}/_create/{key.key_id}?refresh=wait_for", key)

    def replace(self, key: ApiKey, version: str) -> None:
        seq_no, _, term = version.partition(":")
        self._write(
            f"/{self._index}/_doc/{key.key_id}?refresh=wait_for&if_seq_no={seq_no}&if_primary_term={term}",
            key,
        )

    def get(self, key_id: str) -> Stored | None:
        try:
            found = self._engine.request("GET", f"/{self._index}/_doc/{key_id}")
        except SearchEngineError as exc:
            if exc.status == 404:
                return None  # no such key, or no key was ever issued
            raise KeyStoreError(str(exc)) from exc
        if not found.get("found"):
            return None
        key = _readable(found["_source"])
        return Stored(key, f"{found['_seq_no']}:{found['_primary_term']}") if key is not None else None

    def all(self) -> list[ApiKey]:
        try:
            if not self._engine.index_exists(self._index):
                return []
            keys = [
                key for hit in self._engine.scan(self._index) if (key := _readable(hit.source)) is not None
            ]
        except SearchEngineError as exc:
            raise KeyStoreError(str(exc)) from exc
        return sorted(keys, key=lambda k: k.created_at)


class MemoryKeyStore:
    """For unit tests of the logic around keys; passes the same contract tests as the real store."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[ApiKey, int]] = {}
        self._lock = threading.Lock()

    def create(self, key: ApiKey) -> None:
        with self._lock:
            if key.key_id in self._keys:
                raise KeyConflictError(f"API key {key.key_id} exists")
            self._keys[key.key_id] = (key, 1)

    def replace(self, key: ApiKey, version: str) -> None:
        with self._lock:
            current = self._keys.get(key.key_id)
            if current is None or str(current[1]) != version:
                raise KeyConflictError(f"API key {key.key_id} changed meanwhile")
            self._keys[key.key_id] = (key, current[1] + 1)

    def get(self, key_id: str) -> Stored | None:
        found = self._keys.get(key_id)
        return Stored(found[0], str(found[1])) if found is not None else None

    def all(self) -> list[ApiKey]:
        return sorted((key for key, _ in self._keys.values()), key=lambda k: k.created_at)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def checked_filters(filters: dict[str, FilterValue]) -> dict[str, FilterValue]:
    """A key's fixed filters, refused when a name is unknown or a value has the wrong type: a
    misspelt filter would leave a partner's key unrestricted."""
    problems = []
    for name, value in filters.items():
        kind = FILTER_KINDS.get(name)
        if kind is None:
            problems.append(f"unknown filter {name!r}; filters are {', '.join(FILTER_KINDS)}")
        elif kind is list and not (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"filter {name!r} takes a list of names")
        elif kind is bool and not isinstance(value, bool):
            problems.append(f"filter {name!r} takes true or false")
        elif kind is float and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            problems.append(f"filter {name!r} takes a number of at least 0")
    if problems:
        raise ValueError("; ".join(problems))
    return dict(filters)


class UnknownKeyError(LookupError):
    """No key with that id."""


class ApiKeys:
    """Issuing, rotating, revoking and verifying keys. `clock` and `monotonic` are injectable for
    tests of expiry and of the per-worker memory."""

    def __init__(
        self,
        store: KeyStore,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        cache_ttl_s: float = CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._cache_ttl_s = cache_ttl_s
        self._cache: Lru[str, tuple[float, ApiKey | None]] = Lru(CACHED_KEYS)
        self._reread: Lru[str, float] = Lru(CACHED_KEYS)
        # Tokens verified lately, with the reading of the key they were verified against and until
        # when they hold: while that reading is the worker's current one, a token it verified is
        # answered without hashing or parsing dates again (every request presents one).
        self._verified: dict[str, tuple[tuple[float, ApiKey | None], dt.datetime | None]] = {}

    def create(
        self,
        owner: str,
        scopes: tuple[Scope, ...],
        description: str = "",
        expires_in: dt.timedelta | None = None,
        filters: dict[str, FilterValue] | None = None,
        search_per_minute: int | None = None,
        recommend_per_minute: int | None = None,
    ) -> IssuedKey:
        if not scopes:
            raise ValueError("a key needs at least one scope")
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; scopes are {', '.join(SCOPES)}")
        if expires_in is not None and expires_in <= dt.timedelta(0):
            raise ValueError(
                "a key's lifetime must be positive (leave it out for a key that does not expire)"
            )
        for name, limit in (
            ("search_per_minute", search_per_minute),
            ("recommend_per_minute", recommend_per_minute),
        ):
            if limit is not None and limit < 1:
                raise ValueError(f"{name} must be at least 1")
        now = self._clock()
        fixed = checked_filters(filters or {})
        if fixed and "recommend" in scopes:
            # Recommendations return product ids from the models without the catalog's fields, so
            # they could not keep a partner inside its filters.
            raise ValueError("a key with fixed filters cannot have the recommend scope")
        for _ in range(5):  # ids are 48 random bits: a second collision in a row is not expected
            secret = secrets.token_urlsafe(32)
            key = ApiKey(
                key_id=KEY_ID_PREFIX + secrets.token_hex(6),
                secret_sha256=_digest(secret),
                owner=owner,
                scopes=tuple(s for s in SCOPES if s in scopes),
                created_at=iso_utc(now),
                description=description,
                expires_at=iso_utc(now + expires_in) if expires_in is not None else None,
                filters=fixed,
                search_per_minute=search_per_minute,
                recommend_per_minute=recommend_per_minute,
            )
            try:
                self._store.create(key)
            except KeyConflictError:
                continue
            return IssuedKey(key, f"{key.key_id}.{secret}")
        raise KeyStoreError("no free key id after 5 tries")

    def _update(self, key_id: str, change: Callable[[ApiKey], ApiKey]) -> ApiKey:
        """Read, change, write back only if nobody wrote in between (else read again)."""
        for _ in range(5):
            stored = self._store.get(key_id)
            if stored is None:
                raise UnknownKeyError(f"no API key {key_id!r}")
            changed = change(stored.key)
            try:
                self._store.replace(changed, stored.version)
            except KeyConflictError:
                continue
            self._cache.put(key_id, (-self._cache_ttl_s, None))  # forgotten: read again next time
            return changed
        raise KeyStoreError(f"API key {key_id} kept changing; try again")

    def rotate(self, key_id: str, grace: dt.timedelta) -> IssuedKey:
        """A new secret; the old one keeps working for `grace`, so clients can switch without an outage."""
        if grace < dt.timedelta(0):
            raise ValueError("the grace period cannot be negative")
        secret = secrets.token_urlsafe(32)

        def rotated(key: ApiKey) -> ApiKey:
            if key.revoked_at is not None:
                raise ValueError(f"API key {key_id} is revoked; create a new one")
            return msgspec.structs.replace(
                key,
                secret_sha256=_digest(secret),
                previous_secret_sha256=key.secret_sha256,
                previous_valid_until=iso_utc(self._clock() + grace),
            )

        return IssuedKey(self._update(key_id, rotated), f"{key_id}.{secret}")

    def revoke(self, key_id: str) -> ApiKey:
        now = iso_utc(self._clock())
        return self._update(
            key_id, lambda key: msgspec.structs.replace(key, revoked_at=key.revoked_at or now)
        )

    def list(self, include_inactive: bool = False) -> list[ApiKey]:
        """Keys that work now; `include_inactive` adds revoked and expired ones (the record of who
        held access)."""
        keys = self._store.all()
        if include_inactive:
            return keys
        now = self._clock()
        return [key for key in keys if key.active(now)]

    def get(self, key_id: str) -> ApiKey:
        stored = self._store.get(key_id)
        if stored is None:
            raise UnknownKeyError(f"no API key {key_id!r}")
        return stored.key

    def _may_reread(self, key_id: str, may_read: bool) -> bool:
        now = self._monotonic()
        last = self._reread.get(key_id)
        if last is not None and now - last < REREAD_AFTER_MISMATCH_S:
            return False
        if not may_read:
            raise StoreReadNeededError(key_id, known=True)  # at most once a second per key
        self._reread.put(key_id, now)
        return True

    def _record(self, key_id: str, fresh: bool = False, may_read: bool = True) -> ApiKey | None:
        """The stored key, remembered for `cache_ttl_s` (unknown ids too, so repeating a made-up key
        does not repeat store reads); `fresh` reads the store."""
        now = self._monotonic()
        cached = self._cache.get(key_id)
        if not fresh and cached is not None and now - cached[0] < self._cache_ttl_s:
            return cached[1]
        if not may_read:
            raise StoreReadNeededError(key_id, known=cached is not None and cached[1] is not None)
        try:
            stored = self._store.get(key_id)
        except KeyStoreError as exc:
            if cached is None or cached[1] is None or fresh:
                # Never read, forgotten after a change made here, or read again for a secret the
                # last reading does not know (a rotation): only the store can tell.
                raise
            # Stale if error: an outage of the key store must not turn away the keys already in use
            # (a revocation waits for the store to answer again). Asked again in a second.
            log.warning(
                "API key store unavailable; the key stays as last read",
                extra={"key_id": key_id, "error": str(exc)},
            )
            self._cache.put(key_id, (now - self._cache_ttl_s + REREAD_AFTER_MISMATCH_S, cached[1]))
            return cached[1]
        key = stored.key if stored is not None else None
        self._cache.put(key_id, (now, key))
        return key

    def verify(self, token: str, may_read: bool = True) -> ApiKey | None:
        """The key a presented token belongs to, if it is valid now; None for anything else (unknown,
        wrong secret, expired, revoked, malformed). Raises KeyStoreError when the store is down, and
        StoreReadNeededError when the store must be read but `may_read` is false."""
        key_id, dot, secret = token.partition(".")
        memo = self._verified.get(token)
        if memo is not None:
            verified_against, good_until = memo
            if (
                self._cache.peek(key_id) is verified_against
                and self._monotonic() - verified_against[0] < self._cache_ttl_s
                and (good_until is None or self._clock() < good_until)
            ):
                return verified_against[1]
        if not dot or not KEY_ID.fullmatch(key_id) or not 20 <= len(secret) <= 100:
            return None
        digest = _digest(secret)
        key = self._verify(key_id, digest, may_read)
        reading = self._cache.get(key_id)
        if key is not None and reading is not None and reading[1] is key:
            if len(self._verified) >= CACHED_KEYS:
                self._verified.clear()
            until = parse_iso(key.expires_at) if key.expires_at is not None else None
            if not hmac.compare_digest(digest, key.secret_sha256) and key.previous_valid_until:
                previous = parse_iso(key.previous_valid_until)  # the old secret, in its grace period
                until = previous if until is None else min(until, previous)
            self._verified[token] = (reading, until)
        return key

    def _verify(self, key_id: str, digest: str, may_read: bool) -> ApiKey | None:
        key = self._record(key_id, may_read=may_read)
        if key is not None and not self._matches(key, digest) and self._may_reread(key_id, may_read):
            # Rotated on another worker since this one read the key? Read it again, at most once a
            # second per key, so wrong secrets cannot turn into a flood of store reads.
            key = self._record(key_id, fresh=True)
        if key is None:
            return None
        now = self._clock()
        if not key.active(now):
            return None
        if hmac.compare_digest(digest, key.secret_sha256):
            return key
        if (
            key.previous_valid_until is not None
            and now < parse_iso(key.previous_valid_until)
            and self._matches(key, digest)
        ):
            return key
        return None

    @staticmethod
    def _matches(key: ApiKey, digest: str) -> bool:
        """The digest is one of the key's secrets (validity in time is checked by the caller)."""
        return hmac.compare_digest(digest, key.secret_sha256) or (
            key.previous_secret_sha256 is not None and hmac.compare_digest(digest, key.previous_secret_sha256)
        )


@contextmanager
def temporary_key(
    keys: ApiKeys,
    owner: str,
    scopes: tuple[Scope, ...],
    hours: float = 6.0,
    per_minute: int | None = None,
) -> Iterator[str]:
    """A key for one run of a tool of Quarry's own (tests, `make eval`, benchmarks): it expires by
    itself and is revoked when the run ends, so no long-lived secret sits in a file. `per_minute`
    sets its search and recommendation limits (a tool may search faster than a partner)."""
    issued = keys.create(
        owner,
        scopes,
        description="temporary",
        expires_in=dt.timedelta(hours=hours),
        search_per_minute=per_minute,
        recommend_per_minute=per_minute,
    )
    try:
        yield issued.token
    finally:
        try:
            keys.revoke(issued.key.key_id)
        except KeyStoreError:
            log.warning(
                "a temporary key was not revoked; it expires by itself", extra={"key_id": issued.key.key_id}
            )

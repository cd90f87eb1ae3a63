"""The Redis adapter: caching, rate limiting and online features all go through `KeyValueStore`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

import msgspec
import redis
from redis.exceptions import RedisError

from quarry.circuit import CircuitBreaker
from quarry.metrics import DEPENDENCY_POOL_SIZE, dependency_call

_T = TypeVar("_T")


class CacheError(RuntimeError):
    """Redis failed or is unreachable; callers degrade instead of failing the request."""


class PersistenceInfo(msgspec.Struct, frozen=True):
    aof_enabled: bool
    appendfsync: str


@runtime_checkable
class KeyValueStore(Protocol):
    def ping(self) -> bool: ...
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None: ...
    def set_if_absent(self, key: str, value: bytes, ttl_s: int) -> bytes | None: ...
    def delete(self, key: str) -> None: ...
    def delete_matching(self, patterns: list[str]) -> int: ...
    def sample_matching(self, pattern: str, limit: int) -> list[bytes]: ...
    def persistence(self) -> PersistenceInfo: ...
    def push_recent(self, updates: dict[str, list[str]], keep: int, ttl_s: int) -> None: ...
    def recent(self, key: str, count: int) -> list[str]: ...


@contextmanager
def _redis_call(operation: str) -> Iterator[None]:
    """A Redis call, timed for the dependency metrics, its errors turned into CacheError."""
    with dependency_call("redis", operation):
        try:
            yield
        except RedisError as exc:
            raise CacheError(str(exc)) from exc


class RedisStore:
    """`KeyValueStore` on redis-py with short timeouts: a slow Redis must not slow search down."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 0.5,
        pool_size: int = 50,
        password: str | None = None,
        ca_file: str | None = None,
        client_name: str | None = None,
    ) -> None:
        """At most `pool_size` connections; a call finding them all busy waits up to `timeout_s` for
        one, then fails like any Redis error (the callers' circuit breakers take it from there).
        `rediss://` speaks TLS and always verifies the server's certificate (against `ca_file`, else
        the system's CAs); `password` is sent with AUTH; `client_name` names the connections in
        Redis's CLIENT LIST."""
        self.url = url
        tls: dict[str, Any] = {}
        if url.startswith("rediss://"):
            tls = {"ssl_cert_reqs": "required", "ssl_ca_certs": ca_file or None}
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            **({"password": password} if password else {}),
            **({"client_name": client_name} if client_name else {}),
            **tls,
        )
        self._client = redis.Redis(connection_pool=pool)
        DEPENDENCY_POOL_SIZE.labels("redis").set(pool_size)

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except RedisError:
            return False

    def get(self, key: str) -> bytes | None:
        with _redis_call("get"):
            value = self._client.get(key)
        if value is None:
            return None
        # The client is built without decode_responses, so values are bytes; str only if that changes.
        return value.encode() if isinstance(value, str) else bytes(value)

    def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None:
        with _redis_call("set"):
            self._client.set(key, value, ex=ttl_s)

    def set_if_absent(self, key: str, value: bytes, ttl_s: int) -> bytes | None:
        """Store `value` unless the key holds one; return what it held (None: this call stored it).
        One atomic command (`SET NX GET`, Redis 7), so two API instances cannot both claim a key."""
        with _redis_call("set_if_absent"):
            held = self._client.set(key, value, ex=ttl_s, nx=True, get=True)
        if held is None:
            return None
        return held.encode() if isinstance(held, str) else bytes(held)

    def delete(self, key: str) -> None:
        with _redis_call("delete"):
            self._client.delete(key)

    def delete_matching(self, patterns: list[str]) -> int:
        """Delete every key matching any glob pattern (`search:*:p1-…`); how many were deleted. A SCAN
        walks the keyspace in steps, so Redis keeps serving while an admin erases a user."""
        deleted = 0
        with _redis_call("delete_matching"):
            for pattern in patterns:
                batch: list[Any] = []
                for key in self._client.scan_iter(match=pattern, count=1000):
                    batch.append(key)
                    if len(batch) == 500:
                        deleted += int(self._client.unlink(*batch))
                        batch = []
                if batch:
                    deleted += int(self._client.unlink(*batch))
        return deleted

    def sample_matching(self, pattern: str, limit: int) -> list[bytes]:
        """Values of up to `limit` string keys matching a glob pattern, for statistics over a family
        of keys (the drift of user affinities). SCAN visits keys in hash-slot order, unrelated to
        what they hold, so the first `limit` are a fair sample; Redis keeps serving meanwhile."""
        values: list[Any] = []
        with _redis_call("sample_matching"):
            batch: list[Any] = []
            for key in self._client.scan_iter(match=pattern, count=1000, _type="string"):
                batch.append(key)
                if len(batch) == 500 or len(values) + len(batch) >= limit:
                    values += [v for v in self._client.mget(batch) if v is not None]
                    batch = []
                if len(values) >= limit:
                    break
            if batch and len(values) < limit:
                values += [v for v in self._client.mget(batch) if v is not None]
        return [v if isinstance(v, bytes) else str(v).encode() for v in values[:limit]]

    def push_recent(self, updates: dict[str, list[str]], keep: int, ttl_s: int) -> None:
        """For each key, prepend its values (the last ends up first), keep the newest `keep`, refresh
        the TTL; all keys in one round trip."""
        updates = {key: values for key, values in updates.items() if values}
        if not updates:
            return
        with _redis_call("push_recent"), self._client.pipeline(transaction=False) as pipe:
            for key, values in updates.items():
                pipe.lpush(key, *values)
                pipe.ltrim(key, 0, keep - 1)
                pipe.expire(key, ttl_s)
            pipe.execute()

    def recent(self, key: str, count: int) -> list[str]:
        with _redis_call("recent"):
            values = self._client.lrange(key, 0, count - 1)
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]

    def persistence(self) -> PersistenceInfo:
        with _redis_call("persistence"):
            info = self._client.info("persistence")
            fsync = self._client.config_get("appendfsync")
        return PersistenceInfo(
            aof_enabled=bool(int(info.get("aof_enabled", 0))),
            appendfsync=str(fsync.get("appendfsync", "")),
        )

    def close(self) -> None:
        """Closes the pool's connections too: the client does not own a pool it was given, so its
        own close() left them open until garbage collection (an offline job's store lingered)."""
        self._client.close()
        self._client.connection_pool.disconnect()


class CircuitOpenError(CacheError):
    """The store is known to be failing: skipped without a call until the breaker's cooldown ends."""


class GuardedStore:
    """A `KeyValueStore` behind a circuit breaker, so that every caller (the result cache, online
    features, recommendations) fails fast while Redis is down instead of each waiting out its
    timeout; callers catch `CacheError` as before and degrade. `ping` and `persistence` go straight
    through: health checks must see the store as it is, not as the breaker remembers it."""

    def __init__(self, store: KeyValueStore, breaker: CircuitBreaker) -> None:
        self.inner = store
        self.breaker = breaker

    def _call(self, call: Callable[[], _T]) -> _T:
        if not self.breaker.allow():
            raise CircuitOpenError(f"circuit {self.breaker.name} is open")
        try:
            result = call()
        except CacheError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return result

    def ping(self) -> bool:
        return self.inner.ping()

    def persistence(self) -> PersistenceInfo:
        return self.inner.persistence()

    def get(self, key: str) -> bytes | None:
        return self._call(lambda: self.inner.get(key))

    def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None:
        self._call(lambda: self.inner.set(key, value, ttl_s))

    def set_if_absent(self, key: str, value: bytes, ttl_s: int) -> bytes | None:
        return self._call(lambda: self.inner.set_if_absent(key, value, ttl_s))

    def delete(self, key: str) -> None:
        self._call(lambda: self.inner.delete(key))

    def delete_matching(self, patterns: list[str]) -> int:
        return self._call(lambda: self.inner.delete_matching(patterns))

    def sample_matching(self, pattern: str, limit: int) -> list[bytes]:
        return self._call(lambda: self.inner.sample_matching(pattern, limit))

    def push_recent(self, updates: dict[str, list[str]], keep: int, ttl_s: int) -> None:
        self._call(lambda: self.inner.push_recent(updates, keep, ttl_s))

    def recent(self, key: str, count: int) -> list[str]:
        return self._call(lambda: self.inner.recent(key, count))


def guarded(store: KeyValueStore, use: str) -> GuardedStore:
    """The store behind a breaker of its own per use (named in `quarry_circuit_open`), so that one
    use's failures (a slow big value) do not switch off the others."""
    return GuardedStore(store, CircuitBreaker(use))

"""A small pipelining Redis client for the one call every request makes: the rate-limit check.

Why not redis-py here: its asyncio client spends about 70 µs of CPU per command (connection pool,
locks, stream reader) and `limits` with it about 170 µs per limited request (reports/bench-ratelimit.md),
while issue 15 allows authentication and rate limiting 50 µs together. This client keeps one
connection per event loop, writes every command issued in one loop iteration as one pipeline, and
parses replies in `data_received`: about 10-20 µs per command. Everything else in Quarry talks to
Redis through redis-py (quarry/adapters/cache.py).

It speaks RESP2, takes a `redis://[:password@]host:port/db` URL, and fails every waiting call when
the connection drops or a reply is later than `timeout_s` (then it reconnects on the next call).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any, cast


class RespError(RuntimeError):
    """Redis answered with an error reply (`-ERR …`, `-NOSCRIPT …`)."""


class RedisUnavailableError(ConnectionError):
    """No connection, a dropped one, or a reply later than the timeout."""


def encode(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


_INCOMPLETE = object()


def parse(buffer: bytes | bytearray, start: int) -> tuple[Any, int]:
    """One reply from `buffer` at `start`: (value, next position), or (_INCOMPLETE, start)."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return _INCOMPLETE, start
    kind = buffer[start]
    line = bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == 58:  # ':' integer
        return int(line), after
    if kind == 43:  # '+' simple string
        return line.decode(), after
    if kind == 45:  # '-' error
        return RespError(line.decode()), after
    if kind == 36:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return _INCOMPLETE, start
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 42:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items = []
        position = after
        for _ in range(count):
            item, position = parse(buffer, position)
            if item is _INCOMPLETE:
                return _INCOMPLETE, start
            items.append(item)
        return items, position
    raise RespError(f"unexpected reply type {chr(kind)!r}")


class _Connection(asyncio.Protocol):
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._transport: asyncio.Transport | None = None
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._buffer = bytearray()
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False
        self._lost: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisUnavailableError(f"connection to Redis lost: {exc or 'closed'}"))
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def shut(self, error: Exception, timeout_s: float = 1.0) -> None:
        """Fail what waits and close the transport, then wait until it is gone: a TLS transport
        needs a few loop turns for its close_notify, and a loop that ends first leaks the socket."""
        self._fail(error)
        if self._lost is not None and not self._lost.done():
            await asyncio.wait({self._lost}, timeout=timeout_s)

    def call(self, payload: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.closed:
            future.set_exception(RedisUnavailableError("connection to Redis closed"))
            return future
        self._waiting.append((future, time.monotonic() + self._timeout_s))
        self._outgoing.append(payload)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closed or self._transport is None:
            return
        self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout_s, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._watchdog = None
        if self._waiting and self._waiting[0][1] <= time.monotonic():
            # Replies come in order: once the oldest is late the pipeline is stuck; start afresh.
            self._fail(RedisUnavailableError(f"no reply from Redis within {self._timeout_s * 1000:.0f} ms"))
        elif self._waiting:
            delay = max(self._waiting[0][1] - time.monotonic(), 0.001)
            self._watchdog = asyncio.get_running_loop().call_later(delay, self._check_deadlines)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        position = 0
        while self._waiting:
            try:
                value, position_after = parse(self._buffer, position)
            except (RespError, ValueError) as exc:  # not Redis speaking, or a broken stream
                self._fail(RedisUnavailableError(f"unreadable reply from Redis: {exc}"))
                return
            if value is _INCOMPLETE:
                break
            position = position_after
            future, _ = self._waiting.popleft()
            if not future.done():
                if isinstance(value, RespError):
                    future.set_exception(value)
                else:
                    future.set_result(value)
        del self._buffer[:position]

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self._transport is not None:
            self._transport.close()


class RespClient:
    """One pipelined connection per event loop (each API worker has one loop)."""

    def __init__(
        self, url: str, timeout_s: float = 0.05, password: str | None = None, ca_file: str | None = None
    ) -> None:
        """`rediss://` speaks TLS and verifies the server's certificate (against `ca_file`, else the
        system's CAs); `password` (or one in the URL) is sent with AUTH, only after TLS is up."""
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("redis", "rediss"):
            raise ValueError(f"a Redis URL is redis:// or rediss://, not {parsed.scheme}://")
        self._tls = ssl.create_default_context(cafile=ca_file or None) if parsed.scheme == "rediss" else None
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 6379
        url_password = urllib.parse.unquote(parsed.password) if parsed.password else None
        self._password = password or url_password
        self._username = urllib.parse.unquote(parsed.username) if parsed.username else None
        self._db = int(parsed.path.strip("/") or 0)
        self._timeout_s = timeout_s
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, str] = {}

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        attempt = asyncio.ensure_future(
            loop.create_connection(
                lambda: _Connection(self._timeout_s),
                self._host,
                self._port,
                ssl=self._tls,
                server_hostname=self._host if self._tls is not None else None,
            )
        )
        # Not wait_for: it waits for the cancelled attempt to end, which a stuck connect may never do.
        await asyncio.wait({attempt}, timeout=self._timeout_s * 4)
        if not attempt.done():
            attempt.cancel()
            raise RedisUnavailableError(f"cannot connect to Redis at {self._host}:{self._port} in time")
        try:
            _, connection = attempt.result()
        except OSError as exc:
            raise RedisUnavailableError(
                f"cannot connect to Redis at {self._host}:{self._port}: {exc}"
            ) from exc
        try:
            if self._password is not None:
                auth = (
                    ("AUTH", self._username, self._password) if self._username else ("AUTH", self._password)
                )
                await connection.call(encode(*auth))
            if self._db:
                await connection.call(encode("SELECT", self._db))
        except RespError as exc:  # a wrong password or database: this connection is of no use
            await connection.shut(RedisUnavailableError(str(exc)))
            raise RedisUnavailableError(
                f"Redis at {self._host}:{self._port} refused the session: {exc}"
            ) from exc
        return connection

    async def call(self, *args: bytes | str | int) -> Any:
        connection = self._connection
        if connection is None or connection.closed or self._loop is not asyncio.get_running_loop():
            connection = await self._connected()
        return await connection.call(encode(*args))

    def script_nowait(
        self, source: str, keys: Sequence[str], args: Sequence[bytes | str | int]
    ) -> asyncio.Future[Any] | None:
        """Send a script already loaded on a live connection of this loop and return its reply's
        future without waiting; None when that needs a wait (not connected, script not loaded)."""
        sha = self._scripts.get(source)
        connection = self._connection
        if (
            sha is None
            or connection is None
            or connection.closed
            or self._loop is not asyncio.get_running_loop()
        ):
            return None
        return connection.call(encode("EVALSHA", sha, len(keys), *keys, *args))

    async def load(self, source: str) -> None:
        """Load a script ahead of its first `script_nowait`, which sends only loaded ones."""
        if source not in self._scripts:
            loaded = await self.call("SCRIPT", "LOAD", source)
            self._scripts[source] = loaded.decode() if isinstance(loaded, bytes) else str(loaded)

    async def script(self, source: str, keys: Sequence[str], args: Sequence[bytes | str | int]) -> Any:
        """Run a Lua script by its SHA, loading it the first time and again after Redis lost it
        (a restart, SCRIPT FLUSH)."""
        sha = self._scripts.get(source)
        if sha is not None:
            try:
                return await self.call("EVALSHA", sha, len(keys), *keys, *args)
            except RespError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
        loaded = await self.call("SCRIPT", "LOAD", source)
        sha = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        self._scripts[source] = sha
        return await self.call("EVALSHA", sha, len(keys), *keys, *args)

    async def _connected(self) -> _Connection:
        """A fresh connection; concurrent callers share one attempt. A connection belongs to the event
        loop that made it (a test client may run each request on a loop of its own)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._connection, self._connecting = loop, None, None
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            connection = await asyncio.shield(self._connecting)
        except RedisUnavailableError:
            self._connecting = None
            raise
        self._connection = connection
        return connection

    async def aclose(self) -> None:
        """Close the connection, on the loop that made it (before that loop ends)."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed:
            await connection.shut(RedisUnavailableError("client closed"))

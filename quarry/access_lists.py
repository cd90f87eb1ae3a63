"""Allow and deny lists of client addresses and networks (docs/security.md#abuse-protection).

A denied address gets a 403 on every route but the health checks, before its key is even looked
at. An allowed one (the shop's own servers, an office, a monitor) skips the per-address limits and
the abuse checks; its keys' limits still hold. Deny wins when both match.

Entries live in the `quarry-access-lists` index; every API worker keeps a compiled copy it reloads
every few seconds in a thread of its own, so a request only reads memory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Literal

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.records import RecordIndex
from quarry.timestamps import iso_utc, parse_iso


def access_index(prefix: str) -> str:
    return f"{prefix}-access-lists"


ACCESS_INDEX = access_index("quarry")


RELOAD_S = 5.0
AccessList = Literal["allow", "deny"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
log = logging.getLogger("quarry.access_lists")


class AccessEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    entry_id: str
    list: AccessList
    network: str
    """An address or a CIDR, normalized (`10.1.2.0/24`, `2001:db8::/48`)."""
    reason: str
    created_at: str
    created_by: str | None = None
    expires_at: str | None = None

    def active(self, now: dt.datetime) -> bool:
        return self.expires_at is None or now < parse_iso(self.expires_at)


def parse_network(text: str) -> Network:
    """An address or CIDR; host bits set (`10.1.2.3/24`) are an error, not silently widened."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an IP address or CIDR network: {exc}") from exc


class Compiled(msgspec.Struct, frozen=True):
    """Each list's networks, parsed, with their text (what a block names)."""

    allow: tuple[tuple[Network, str], ...] = ()
    deny: tuple[tuple[Network, str], ...] = ()


class Match(msgspec.Struct, frozen=True):
    list: AccessList
    network: str


class AccessLists:
    """The entries (store) and this worker's compiled copy (decisions)."""

    PROPERTIES = {  # noqa: RUF012 - a constant
        "entry_id": {"type": "keyword"},
        "list": {"type": "keyword"},
        "network": {"type": "keyword"},
        "created_at": {"type": "date"},
        "expires_at": {"type": "date"},
    }

    def __init__(
        self,
        engine: SearchEngine,
        index: str = ACCESS_INDEX,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._records = RecordIndex(engine, index, self.PROPERTIES)
        self._clock = clock
        self._state: tuple[Compiled, dict[str, Match | None]] = (Compiled(), {})
        self._reloading = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        access_list: AccessList,
        network: str,
        reason: str,
        created_by: str | None = None,
        expires_in: dt.timedelta | None = None,
    ) -> AccessEntry:
        parsed = parse_network(network)
        now = self._clock()
        entry = AccessEntry(
            entry_id=f"acl_{secrets.token_hex(6)}",
            list=access_list,
            network=str(parsed),
            reason=reason,
            created_at=iso_utc(now),
            created_by=created_by,
            expires_at=iso_utc(now + expires_in) if expires_in else None,
        )
        self._records.put(entry.entry_id, msgspec.to_builtins(entry))
        self.reload()
        return entry

    def remove(self, entry_id: str) -> AccessEntry | None:
        """The removed entry; None when no entry in force has that id."""
        found = next((e for e in self.entries() if e.entry_id == entry_id), None)
        if found is not None:
            self._records.delete(entry_id)
            self.reload()
        return found

    def entries(self) -> list[AccessEntry]:
        """The entries in force (expired ones are left out, and no longer match). An entry this
        version cannot read is logged and skipped, not allowed to stop the others."""
        now = self._clock()
        found = []
        for source in self._records.all():
            try:
                entry = msgspec.convert(source, AccessEntry)
                parse_network(entry.network)
                if entry.active(now):
                    found.append(entry)
            except (msgspec.ValidationError, ValueError, TypeError) as exc:
                log.error("an access-list entry is unreadable; skipped", extra={"error": str(exc)})
        return sorted(found, key=lambda e: e.created_at)

    def reload(self) -> None:
        """Compile the entries in force; on any error the last compiled copy stays (and is logged).
        One reload at a time: one that read the store before a change must not finish after the
        reload the change made."""
        with self._reloading:
            try:
                entries = self.entries()
            except Exception as exc:  # the reload thread must outlive any store trouble
                log.warning(
                    "access lists not reloaded; the last ones stay in force", extra={"error": str(exc)}
                )
                return
            compiled = Compiled(
                allow=tuple((parse_network(e.network), e.network) for e in entries if e.list == "allow"),
                deny=tuple((parse_network(e.network), e.network) for e in entries if e.list == "deny"),
            )
            self._state = (compiled, {})  # one assignment: decide() never pairs old lists with new answers

    def decide(self, address: str) -> Match | None:
        """The entry kind and network matching a client address (deny first), or None; memory only
        (answers are remembered per address until the next reload). IPv4 clients of a dual-stack
        listener (`::ffff:198.51.100.7`) match IPv4 entries."""
        compiled, decisions = self._state
        if not compiled.allow and not compiled.deny:
            return None
        if address in decisions:
            return decisions[address]
        decision: Match | None = None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is not None:
            for kind, networks in (("deny", compiled.deny), ("allow", compiled.allow)):
                found = next((text for network, text in networks if ip in network), None)
                if found is not None:
                    decision = Match(kind, found)  # type: ignore[arg-type]
                    break
        if len(decisions) > 100_000:
            decisions.clear()
        decisions[address] = decision
        return decision

    def start(self, every_s: float = RELOAD_S) -> None:
        """Reload in a daemon thread every `every_s`, so other workers' changes arrive."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                self.reload()  # never raises: a dead thread would keep stale lists without a word

        self.reload()
        self._thread = threading.Thread(target=loop, name="access-lists", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

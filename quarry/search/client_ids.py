"""The ids a client gives a search for its behaviour log (the UBI spec's `ext.ubi`): `query_id`,
`client_id`, `application` and `query_attributes` (docs/events.md#searches-with-the-clients-ids)."""

from __future__ import annotations

import hashlib
import logging
import re

import msgspec

from quarry.adapters.cache import CacheError, CircuitOpenError, KeyValueStore
from quarry.search.schemas import QueryAttributeValue, SearchRequest, UbiRequest
from quarry.ubi import CLIENT_QUERY_ID_TTL_S, client_query_key

log = logging.getLogger("api.search")

MAX_QUERY_ATTRIBUTES = 20
MAX_ATTRIBUTE_VALUE = 256
# Written by Quarry into every query record's `query_attributes` (quarry/query_log.py); a client's value
# under the same key would be overwritten, so it is refused instead.
QUARRY_QUERY_ATTRIBUTES = frozenset(
    {"total", "page", "sort", "fallback", "intent", "corrected", "experiments", "latency_ms", "teams"}
)
# No dot: `query_attributes` is a flat_object field, which reads a dotted key as a path.
_ATTRIBUTE_KEY = re.compile(r"[\w:-]{1,100}")


class QueryIdConflictError(ValueError):
    """The client's `query_id` already names another search: logging this one under it would
    overwrite that search's query record, and its events would join the wrong results."""


def parse_query_attributes(raw: str) -> dict[str, QueryAttributeValue]:
    """`query_attributes` as the spec's `ext.ubi` has it: one JSON object of flat values (the UBI
    plugin reads it as a map of strings). Every problem is reported at once."""
    try:
        decoded = msgspec.json.decode(raw, type=dict[str, QueryAttributeValue])
    except msgspec.ValidationError as exc:
        raise ValueError(f"query_attributes must map names to strings, numbers or booleans: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValueError(f"query_attributes is not a JSON object: {exc}") from exc
    problems = []
    if len(decoded) > MAX_QUERY_ATTRIBUTES:
        problems.append(f"query_attributes has {len(decoded)} keys; at most {MAX_QUERY_ATTRIBUTES}")
    for key, value in decoded.items():
        if key in QUARRY_QUERY_ATTRIBUTES:
            problems.append(f"query_attributes key {key!r} is set by Quarry; use another name")
        elif not _ATTRIBUTE_KEY.fullmatch(key):
            problems.append(
                f"query_attributes key {key!r} must be 1-100 letters, digits, '_', ':' or '-' (no dot)"
            )
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_VALUE:
            problems.append(f"query_attributes[{key!r}] is longer than {MAX_ATTRIBUTE_VALUE} characters")
    if problems:
        raise ValueError("; ".join(problems))
    return dict(sorted(decoded.items()))


def search_fingerprint(request: SearchRequest) -> bytes:
    """What makes two requests the same search, for telling a client's retry (same id, same search:
    accepted) from a reused id (same id, another search: refused)."""
    unnamed = msgspec.structs.replace(request, ubi=msgspec.structs.replace(request.ubi, query_id=None))
    return hashlib.sha1(msgspec.msgpack.encode(unnamed), usedforsecurity=False).hexdigest().encode()


class ClientQueryIds:
    """Makes a client's `query_id` name one search. The first search to use an id claims it in Redis
    (one atomic `SET NX GET`, shared by every worker and instance) for `CLIENT_QUERY_ID_TTL_S`. While
    Redis is unreachable ids go unchecked, and the response says so (`degraded`), rather than failing
    searches over their log."""

    def __init__(self, store: KeyValueStore, ttl_s: int = CLIENT_QUERY_ID_TTL_S):
        """`store`: breaker-guarded (`GuardedStore`), so an outage is skipped, not waited for."""
        self._store = store
        self._ttl_s = ttl_s

    def claim(self, request: SearchRequest) -> bool:
        """True when the id is this search's (now or already); False when it could not be checked.
        Raises QueryIdConflictError when another search holds it."""
        query_id = request.ubi.query_id
        if query_id is None:
            return True
        fingerprint = search_fingerprint(request)
        try:
            held = self._store.set_if_absent(client_query_key(query_id), fingerprint, self._ttl_s)
        except CircuitOpenError:
            return False
        except CacheError as exc:
            log.warning("client query id not checked", extra={"query_id": query_id, "error": str(exc)})
            return False
        if held is not None and held != fingerprint:
            raise QueryIdConflictError(
                f"query_id {query_id!r} already names another search; send a new id for each search "
                "(a retry of the same search may reuse its id)"
            )
        return True


def ubi_request(
    query_id: str | None, client_id: str | None, application: str | None, query_attributes: str | None
) -> UbiRequest:
    """The request's UBI part from its query parameters; empty strings count as absent (ubi.js sends
    empty ids for what it does not know)."""
    return UbiRequest(
        query_id=query_id or None,
        client_id=client_id or None,
        application=application or None,
        query_attributes=parse_query_attributes(query_attributes) if query_attributes else {},
    )

"""The OpenSearch adapter: the only module that talks to the OpenSearch client library.

Everything else in Quarry (API services, pipelines, benchmarks) depends on the `SearchEngine`
protocol, so a change of client, a test double for pure logic, or a second cluster stays here.
Errors are translated into `SearchEngineError` with the HTTP status, which is what retry and
problem-details code needs to decide.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import msgspec
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, SerializationError, TransportError
from opensearchpy.serializer import JSONSerializer

from quarry.circuit import CircuitBreaker
from quarry.metrics import DEPENDENCY_POOL_SIZE, dependency_call


class SearchEngineError(RuntimeError):
    """A failed OpenSearch call; `status` is the HTTP status, or None when nothing answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class ClusterHealth(msgspec.Struct, frozen=True):
    status: str
    number_of_nodes: int
    cluster_name: str


class Hit(msgspec.Struct, frozen=True):
    id: str  # empty when the request asked for no stored fields (`stored_fields: _none_`)
    score: float | None
    source: dict[str, Any]
    explanation: dict[str, Any] | None = None
    fields: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # docvalue_fields, as returned
    index: str = ""  # the concrete index (scan fills it: a hit read through an alias names its index)
    matched: dict[str, float] | None = None
    """Named queries' scores (`include_named_queries_score`), by name, when the search asked for them;
    an empty map then means the hit matched none of them. None: not asked."""


class SearchResponse(msgspec.Struct, frozen=True):
    total: int
    hits: list[Hit]
    took_ms: int
    aggregations: dict[str, Any] = msgspec.field(default_factory=dict)


class BulkItemResult(msgspec.Struct, frozen=True):
    """Outcome of one bulk action, in request order."""

    id: str
    status: int
    error: str | None = None


class BulkResponse(msgspec.Struct, frozen=True):
    items: list[BulkItemResult]
    took_ms: int


@runtime_checkable
class SearchEngine(Protocol):
    def health(self, timeout_s: float | None = None) -> ClusterHealth: ...
    def plugins(self) -> list[str]: ...
    def create_index(self, name: str, body: Mapping[str, Any]) -> None: ...
    def delete_index(self, name: str) -> None: ...
    def index_exists(self, name: str) -> bool: ...
    def list_indices(self, pattern: str) -> list[str]: ...
    def alias_targets(self, alias: str) -> list[str]: ...
    def point_alias(self, alias: str, index: str) -> None: ...
    def get_index_settings(self, index: str) -> dict[str, Any]: ...
    def put_index_settings(self, index: str, settings: Mapping[str, Any]) -> None: ...
    def bulk(self, ndjson: bytes) -> BulkResponse: ...
    def refresh(self, index: str) -> None: ...
    def count(self, index: str, query: Mapping[str, Any] | None = None) -> int: ...
    def search(self, index: str, body: Mapping[str, Any], named_scores: bool = False) -> SearchResponse:
        """`named_scores`: each hit also carries the scores of the body's named queries (`matched`)."""
        ...

    def get_document(self, index: str, doc_id: str) -> dict[str, Any] | None: ...
    def reindex(self, source: str, dest: str) -> int: ...
    def scan(
        self, index: str, query: Mapping[str, Any] | None = None, fields: list[str] | None = None
    ) -> Iterator[Hit]: ...
    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any: ...


_encoder = msgspec.json.Encoder()


def index_action(index: str, doc_id: str, document: Any, op_type: str = "index") -> bytes:
    """One bulk action (header line + document line) as NDJSON bytes. `op_type="create"` refuses to
    overwrite an existing id (409), which is what makes event ingestion idempotent."""
    return (
        _encoder.encode({op_type: {"_index": index, "_id": doc_id}})
        + b"\n"
        + _encoder.encode(document)
        + b"\n"
    )


BULK_RESPONSE_FIELDS = "took,errors,items.*._id,items.*.status,items.*.error"
_RAISE = object()  # `_call`'s default: a 404 is an error


def _translate(exc: Exception) -> SearchEngineError:
    if isinstance(exc, (OSConnectionError, ConnectionTimeout)):
        return SearchEngineError(f"OpenSearch unreachable: {exc}", None)
    if isinstance(exc, TransportError):
        status = exc.status_code if isinstance(exc.status_code, int) else None
        return SearchEngineError(f"OpenSearch error {exc.status_code}: {exc.error} {exc.info}", status)
    return SearchEngineError(str(exc), None)


def _named_scores(matched: Any) -> dict[str, float]:
    """A hit's named-query scores; a cluster that sends names only (no scores) is an error, since a
    feature read as 0 there would be silently wrong."""
    if matched is None:
        return {}
    if not isinstance(matched, dict):
        raise SearchEngineError("OpenSearch returned matched query names without scores")
    return {str(name): float(score) for name, score in matched.items()}


class MsgspecSerializer(JSONSerializer):
    """msgspec instead of the json module: a 200-hit search response decodes several times faster."""

    def loads(self, s: str) -> Any:
        try:
            return msgspec.json.decode(s)
        except msgspec.DecodeError as exc:
            raise SerializationError(s, exc) from exc

    def dumps(self, data: Any) -> Any:
        if isinstance(data, (str, bytes)):
            return data
        try:
            return _encoder.encode(data).decode()
        except (TypeError, msgspec.EncodeError):
            return super().dumps(data)  # dates, UUIDs, numpy numbers: the client's own rules


class OpenSearchEngine:
    """`SearchEngine` over opensearch-py; one instance is safe to share between threads."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 30.0,
        pool_size: int = 16,
        breaker: CircuitBreaker | None = None,
        dependency: str = "opensearch",
        basic_auth: tuple[str, str] | None = None,
        ca_file: str | None = None,
    ) -> None:
        """`pool_size` connections are kept alive; beyond it urllib3 opens one per call and discards
        it after (slower, and what the pool-exhaustion alert watches for). With a `breaker` (the API
        has one), calls fail at once while OpenSearch is known to be down instead of each waiting
        for its timeout and holding a worker thread; pipelines run without one. `dependency` names
        the cluster in metrics and traces, so the UBI analytics cluster's errors and pool use are not
        counted as the search cluster's. `basic_auth` and `ca_file` (verifies an https URL's
        certificate; certificates are always verified) reach a secured cluster."""
        self._dependency = dependency
        self.url = url
        self._breaker = breaker
        self._client = OpenSearch(
            hosts=[url],
            timeout=timeout_s,
            max_retries=0,
            retry_on_timeout=False,
            http_compress=False,
            pool_maxsize=pool_size,
            serializer=MsgspecSerializer(),
            http_auth=basic_auth,
            verify_certs=True,
            ca_certs=ca_file or None,
        )
        DEPENDENCY_POOL_SIZE.labels(dependency).set(pool_size)

    def _call(self, fn: Any, *args: Any, if_missing: Any = _RAISE, **kwargs: Any) -> Any:
        """Every client call goes through here: timed, errors translated; a 404 returns `if_missing`
        when one is given."""
        operation = getattr(fn, "__name__", "call")  # search, bulk, get_alias, ...: a bounded set
        if self._breaker is not None and not self._breaker.allow():
            raise SearchEngineError(f"OpenSearch circuit open: {operation} not sent", status=None)
        try:
            with dependency_call(self._dependency, operation):
                try:
                    result = fn(*args, **kwargs)
                except NotFoundError as exc:
                    if if_missing is _RAISE:
                        raise _translate(exc) from exc
                    result = if_missing
                except (TransportError, OSConnectionError, ConnectionTimeout) as exc:
                    raise _translate(exc) from exc
        except SearchEngineError as exc:
            if self._breaker is not None:
                # Only no answer or a 5xx is an outage. A 4xx is an answer, 429 included: a bulk
                # write pushed back under indexing pressure must not stop searches.
                outage = exc.status is None or exc.status >= 500
                (self._breaker.record_failure if outage else self._breaker.record_success)()
            raise
        if self._breaker is not None:
            self._breaker.record_success()
        return result

    def health(self, timeout_s: float | None = None) -> ClusterHealth:
        """`timeout_s` overrides the client's timeout for this call (a probe must answer quickly)."""
        options = {} if timeout_s is None else {"request_timeout": timeout_s}
        body = self._call(self._client.cluster.health, **options)
        return ClusterHealth(
            status=body["status"],
            number_of_nodes=body["number_of_nodes"],
            cluster_name=body["cluster_name"],
        )

    def plugins(self) -> list[str]:
        rows = self._call(self._client.cat.plugins, format="json")
        return sorted({row["component"] for row in rows})

    def create_index(self, name: str, body: Mapping[str, Any]) -> None:
        self._call(self._client.indices.create, index=name, body=dict(body))

    def delete_index(self, name: str) -> None:
        self._call(self._client.indices.delete, index=name, if_missing=None)

    def index_exists(self, name: str) -> bool:
        return bool(self._call(self._client.indices.exists, index=name))

    def list_indices(self, pattern: str) -> list[str]:
        return sorted(
            self._call(self._client.indices.get, index=pattern, expand_wildcards="open,closed", if_missing={})
        )

    def alias_targets(self, alias: str) -> list[str]:
        return sorted(self._call(self._client.indices.get_alias, name=alias, if_missing={}))

    def point_alias(self, alias: str, index: str) -> None:
        """Move the alias to `index` in one cluster-state update, so readers never see it empty."""
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": alias}} for old in self.alias_targets(alias) if old != index
        ]
        actions.append({"add": {"index": index, "alias": alias}})
        self._call(self._client.indices.update_aliases, body={"actions": actions})

    def get_index_settings(self, index: str) -> dict[str, Any]:
        body = self._call(self._client.indices.get_settings, index=index, flat_settings=False)
        settings: dict[str, Any] = next(iter(body.values()))["settings"]
        return settings

    def put_index_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        self._call(self._client.indices.put_settings, index=index, body=dict(settings))

    def bulk(self, ndjson: bytes) -> BulkResponse:
        # Only what BulkResponse keeps: OpenSearch's full answer (index, version, shards, seq_no per
        # item) is ~200 bytes a document, and writing it cost the node ~15 µs per UBI query record.
        body = self._call(self._client.bulk, body=ndjson, filter_path=BULK_RESPONSE_FIELDS)
        items = []
        for item in body.get("items", []):
            result = next(iter(item.values()))
            error = result.get("error")
            items.append(
                BulkItemResult(
                    id=str(result.get("_id", "")),
                    status=int(result["status"]),
                    error=None if error is None else f"{error.get('type')}: {error.get('reason')}",
                )
            )
        return BulkResponse(items=items, took_ms=int(body.get("took", 0)))

    def refresh(self, index: str) -> None:
        self._call(self._client.indices.refresh, index=index)

    def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": dict(query)} if query else None
        return int(self._call(self._client.count, index=index, body=body)["count"])

    def search(self, index: str, body: Mapping[str, Any], named_scores: bool = False) -> SearchResponse:
        params = {"include_named_queries_score": "true"} if named_scores else None
        raw = self._call(self._client.search, index=index, body=dict(body), params=params)
        hits = [
            Hit(
                id=h.get("_id", ""),
                score=h.get("_score"),
                source=h.get("_source", {}),
                explanation=h.get("_explanation"),
                fields=h.get("fields", {}),
                matched=_named_scores(h.get("matched_queries")) if named_scores else None,
            )
            for h in raw["hits"]["hits"]
        ]
        total = raw["hits"]["total"]
        return SearchResponse(
            total=int(total["value"] if isinstance(total, dict) else total),
            hits=hits,
            took_ms=int(raw.get("took", 0)),
            aggregations=raw.get("aggregations", {}),
        )

    def get_document(self, index: str, doc_id: str) -> dict[str, Any] | None:
        body = self._call(self._client.get, index=index, id=doc_id, if_missing=None)
        if body is None:
            return None
        source: dict[str, Any] = body["_source"]
        return source

    def reindex(self, source: str, dest: str) -> int:
        body = self._call(
            self._client.reindex,
            body={"source": {"index": source, "size": 2000}, "dest": {"index": dest}},
            wait_for_completion=True,
            refresh=False,
            request_timeout=1800,
        )
        failures = body.get("failures") or []
        if failures:
            raise SearchEngineError(
                f"reindex {source} -> {dest} had {len(failures)} failures: {failures[:3]}"
            )
        return int(body["created"]) + int(body.get("updated", 0))

    def scan(
        self, index: str, query: Mapping[str, Any] | None = None, fields: list[str] | None = None
    ) -> Iterator[Hit]:
        """Every matching document, in no particular order (scroll), for offline jobs; `fields`:
        only these of each `_source`."""
        body: dict[str, Any] = {"query": dict(query or {"match_all": {}})}
        if fields is not None:
            body["_source"] = fields
        try:
            for raw in helpers.scan(self._client, index=index, query=body, size=2000, scroll="2m"):
                yield Hit(
                    id=raw["_id"], score=None, source=raw.get("_source", {}), index=raw.get("_index", "")
                )
        except (TransportError, OSConnectionError, ConnectionTimeout) as exc:
            raise _translate(exc) from exc

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Escape hatch for plugin endpoints (LTR feature store, k-NN stats) the client lacks."""
        return self._call(
            self._client.transport.perform_request, method, path, body=None if body is None else dict(body)
        )

    def close(self) -> None:
        self._client.close()

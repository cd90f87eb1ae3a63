"""QUARRY_UBI_OPENSEARCH_URL: the UBI query and event logs on their own (analytics) cluster.

There is one OpenSearch node here, so the "analytics cluster" is a recording TCP relay in front of
it: every byte still reaches the real node over real connections, and the relay shows which requests
took which route. Closing the relay is an analytics outage that leaves the search cluster up."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.understanding import build_and_publish
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.adapters.search_engine import OpenSearchEngine
from quarry.ltr.feature_log import INDEX_PREFIX as FEATURE_LOG_PREFIX
from quarry.settings import Settings
from quarry.ubi import UBI_EVENTS, UBI_QUERIES
from tests.conftest import make_event

_REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|HEAD|DELETE) (/\S*) HTTP/1\.1\r\n")


class RecordingRelay:
    """Forwards TCP connections to `target` and keeps, per connection, every byte the client sent."""

    def __init__(self, target: str) -> None:
        parts = urllib.parse.urlsplit(target)
        if parts.scheme != "http" or parts.hostname is None:
            pytest.skip(f"the relay forwards plain HTTP only, not {target}")
        self._target = (parts.hostname, parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sent: list[bytearray] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._closed:
                client.close()
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the client sees a reset at once instead of waiting for its timeout
                continue
            received = bytearray()
            with self._lock:
                self._sockets += [client, upstream]
                self._sent.append(received)
            threading.Thread(target=self._pump, args=(client, upstream, received), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        try:
            while chunk := source.recv(65536):
                if record is not None:
                    with self._lock:
                        record += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def paths(self) -> list[str]:
        with self._lock:
            return [m.decode() for sent in self._sent for m in _REQUEST_LINE.findall(bytes(sent))]

    def sent(self) -> bytes:
        with self._lock:
            return b"".join(bytes(sent) for sent in self._sent)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # close() alone leaves a blocked accept() serving
        self._listener.close()
        with self._lock:
            for end in self._sockets:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


# What the UBI side may ask of its cluster: bulk writes, the UBI indices and their template, health,
# and the LTR feature log's daily index (records joined with UBI events, written by the same writer
# side; a sampled search, about one in twenty, creates it).
UBI_PATHS = (
    "/_bulk",
    f"/{FEATURE_LOG_PREFIX}",
    f"/{UBI_QUERIES}",
    f"/{UBI_EVENTS}",
    f"/_alias/{UBI_QUERIES}",
    f"/_alias/{UBI_EVENTS}",
    "/_index_template/",
    "/_cluster/health",
)


def _write_failures(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "quarry_ubi_query_log_dropped_total"
        and sample.labels.get("reason") == "write_failed"
    )


@pytest.fixture
def relay(settings: Settings) -> Iterator[RecordingRelay]:
    relay = RecordingRelay(settings.opensearch_url)
    yield relay
    relay.close()


def test_query_and_event_logs_go_to_the_analytics_cluster_and_searches_do_not(
    app_client, demo_catalog: Settings, relay: RecordingRelay, engine: OpenSearchEngine, pseudonyms
) -> None:
    separate = msgspec.structs.replace(demo_catalog, ubi_opensearch_url=relay.url, cache_warm_queries=0)
    with app_client(separate) as client:
        search = client.get("/v1/search", params={"q": "velvet sofa", "size": 3})
        assert client.app.state.search_service.query_log.flush()
        event = client.post(
            "/v1/events",
            json={"events": [make_event(user_id="u-analytics", query_id=search.json()["query_id"])]},
        )
        ready = client.get("/health/ready")
    assert search.status_code == 200 and search.json()["results"]
    assert event.status_code == 202 and event.json()["accepted"] == 1
    assert ready.json()["status"] == "ready"
    assert [c["name"] for c in ready.json()["checks"]] == ["opensearch", "redis", "ubi_opensearch"]

    sent = relay.sent()
    assert f'"_index":"{UBI_QUERIES}"'.encode() in sent  # the query log's bulk write
    assert search.json()["query_id"].encode() in sent
    assert pseudonyms.user("u-analytics").encode() in sent  # the event, under its pseudonym
    assert b"u-analytics" not in sent
    elsewhere = [p for p in relay.paths() if not p.startswith(UBI_PATHS)]
    assert not elsewhere, f"search-cluster requests sent to the analytics cluster: {elsewhere}"
    # Relayed to the real node: both are stored.
    engine.refresh(UBI_QUERIES)
    assert engine.get_document(UBI_QUERIES, search.json()["query_id"]) is not None
    engine.refresh(UBI_EVENTS)
    assert engine.count(UBI_EVENTS, {"term": {"query_id": search.json()["query_id"]}}) == 1


def test_an_analytics_outage_leaves_searches_and_readiness_alone(
    app_client, demo_catalog: Settings, relay: RecordingRelay
) -> None:
    separate = msgspec.structs.replace(demo_catalog, ubi_opensearch_url=relay.url, cache_warm_queries=0)
    with app_client(separate) as client:
        failures_before = _write_failures(client.get("/metrics").text)
        relay.close()
        searches = [client.get("/v1/search", params={"q": q, "size": 2}) for q in ("tent", "blender", "sofa")]
        assert client.app.state.search_service.query_log.flush()
        event = client.post("/v1/events", json={"events": [make_event(query_id="q-outage")]})
        ready = client.get("/health/ready")
        metrics = client.get("/metrics").text
    assert [s.status_code for s in searches] == [200, 200, 200]
    assert all(s.json()["results"] and s.json()["degraded"] == [] for s in searches)
    assert event.status_code == 503
    assert event.headers["content-type"].startswith("application/problem+json")
    assert event.json()["trace_id"]
    assert ready.status_code == 200
    assert (ready.json()["status"], ready.json()["degraded"]) == ("degraded", ["ubi_opensearch"])
    assert _write_failures(metrics) - failures_before == 3  # the three searches' records: counted, not silent


def test_the_vocabulary_reads_logged_queries_from_the_analytics_cluster(
    demo_catalog: Settings, relay: RecordingRelay, engine: OpenSearchEngine, tmp_path: Path
) -> None:
    query_log = OpenSearchEngine(relay.url)
    build_and_publish(
        engine, LocalArtifactStore(str(tmp_path)), demo_catalog.products_alias, ubi_engine=query_log
    )
    assert any(p.startswith(f"/{UBI_QUERIES}/_search") for p in relay.paths()), relay.paths()
    assert all(p.startswith(UBI_PATHS) for p in relay.paths()), relay.paths()

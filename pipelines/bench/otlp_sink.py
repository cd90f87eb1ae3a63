"""A minimal OTLP/HTTP trace receiver for `make bench-search`: accepts what the API exports, counts
the spans and answers 200, so the traced API pays the real cost of building, batching, encoding and
sending spans without a collector installed. `GET /count` returns the spans received so far.

Usage: python -m pipelines.bench.otlp_sink PORT
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_RECEIVED = {"spans": 0}
_LOCK = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with _LOCK:
            _RECEIVED["spans"] += spans
        self._reply(ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self) -> None:
        self._reply(str(_RECEIVED["spans"]).encode(), "text/plain")

    def _reply(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str]) -> int:
    ThreadingHTTPServer(("127.0.0.1", int(argv[0])), _Handler).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

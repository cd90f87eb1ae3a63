"""`make bench-ltr-features`: what the templated LTR features cost OpenSearch for a 100-product
window, computed two ways, in one run, interleaved query by query (docs/ltr.md#computing-features):

- named: one search, every templated feature a named clause scored with
  `include_named_queries_score`, plus the doc values the scripted features read;
- msearch: one `_msearch` with a search per templated feature (each filtered to the window's ids)
  and one for the doc values.

Named is also measured for the top 50 and top 25 of the window: what a smaller LTR window
(`QUARRY_LTR_WINDOW`) would cost. And "window query, features carried": the window query itself
with the named clauses in its post filter (`FeatureExtractor.scored_in`, what the service sends when
a model ranks), so the features need no request of their own; its cost over the plain window query
is what the features cost that way.

Every request reads doc values only (`stored_fields: _none_`): loading `_id` from the stored fields
of a hundred hits cost the named request about 2 ms of OpenSearch CPU (session 20).

The baseline is the keyword window query itself (the BM25 search the window came from), measured in
the same rounds: the features' cost is stated as a share of it. CPU is the OpenSearch process tree's
user + system time around each request, summed per side; latency is the client's wall time."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
import msgspec

from pipelines.bench.cpu import cpu_seconds, pid_from_file, process_tree
from pipelines.bench.load import percentile
from pipelines.bench.report import environment, publish_report
from pipelines.golden import load_queries
from quarry import connections
from quarry.ltr.features import DOCVALUE_FIELDS, FeatureContext, FeatureExtractor
from quarry.ltr.featureset import load_featureset, render
from quarry.settings import Settings, get_settings

WINDOW = 100
SMALLER_WINDOWS = (50, 25)
QUERIES = 150
ROUNDS = 3


class Side(msgspec.Struct):
    side: str
    requests: int
    p50_ms: float
    p95_ms: float
    opensearch_cpu_ms: float
    """OpenSearch CPU per request."""
    of_window_query_cpu: float
    """CPU per request over the window query's."""


class LtrFeaturesBench(msgspec.Struct):
    benchmark: str
    environment: dict[str, Any]
    window: int
    queries: int
    rounds: int
    features_templated: int
    featureset: str
    sides: list[Side]
    cheaper: str
    carried_extra_cpu_ms: float
    """What carrying the features adds to the window query's OpenSearch CPU."""


def window_body(query: str) -> dict[str, Any]:
    return {
        "size": WINDOW,
        "_source": False,
        "stored_fields": "_none_",
        "docvalue_fields": ["product_id"],
        "query": {
            "multi_match": {
                "query": query,
                "fields": ["title^3", "brand.text^2", "category_path.text^1.5", "description^0.5"],
            }
        },
    }


def msearch_lines(alias: str, extractor: FeatureExtractor, context: FeatureContext, ids: list[str]) -> str:
    params = context.text_params()
    ids_filter = [{"terms": {"product_id": ids}}]
    bodies = [
        {
            "size": len(ids),
            "_source": False,
            "stored_fields": "_none_",
            "docvalue_fields": ["product_id"],
            "query": {"bool": {"must": [render(f.template, params)], "filter": ids_filter}},
        }
        for f in extractor.featureset.templated
    ]
    bodies.append(
        {
            "size": len(ids),
            "_source": False,
            "stored_fields": "_none_",
            "docvalue_fields": DOCVALUE_FIELDS,
            "query": {"bool": {"filter": ids_filter}},
        }
    )
    return "".join(json.dumps({"index": alias}) + "\n" + json.dumps(b) + "\n" for b in bodies)


def run(settings: Settings) -> LtrFeaturesBench:
    alias = settings.products_alias
    featureset = load_featureset()
    extractor = FeatureExtractor(connections.search_engine(settings), alias, featureset)
    root = pid_from_file(settings.var_path / "run" / "opensearch.pid")
    pids = process_tree(root) if root is not None else []
    queries = list(dict.fromkeys(q.query for q in load_queries()))[:QUERIES]
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    smaller = {top: f"named, top {top}" for top in SMALLER_WINDOWS}
    carried = "window query, features carried"
    measured = ["window query", carried, "named", "msearch", *smaller.values()]
    latency: dict[str, list[float]] = {side: [] for side in measured}
    cpu: dict[str, float] = dict.fromkeys(latency, 0.0)
    with httpx.Client(base_url=settings.opensearch_url, timeout=60) as client:

        def timed(side: str, path: str, **request: Any) -> Any:
            cpu_before, started = cpu_seconds(pids), time.perf_counter()
            response = client.post(path, **request)
            latency[side].append((time.perf_counter() - started) * 1000)
            cpu[side] += cpu_seconds(pids) - cpu_before
            response.raise_for_status()
            return response.json()

        ndjson = {"content-type": "application/x-ndjson"}
        for round_number in range(ROUNDS):
            for n, query in enumerate(queries):
                context = FeatureContext(
                    keywords=query, corrected=query, now_millis=now, half_life_days=180.0
                )
                plain = window_body(query)
                scored = extractor.scored_in(plain, context.text_params())
                named_path = f"/{alias}/_search?include_named_queries_score=true"
                if (n + round_number) % 2 == 0:
                    found = timed("window query", f"/{alias}/_search", json=plain)
                    timed(carried, named_path, json=scored)
                else:
                    timed(carried, named_path, json=scored)
                    found = timed("window query", f"/{alias}/_search", json=plain)
                ids = [h["fields"]["product_id"][0] for h in found["hits"]["hits"]]
                if not ids:
                    continue
                named = extractor.request_body(context, ids)
                many = msearch_lines(alias, extractor, context, ids)
                # Alternate which side goes first, so neither always meets the warmer cache.
                for side in ("named", "msearch") if (n + round_number) % 2 == 0 else ("msearch", "named"):
                    if side == "named":
                        timed(side, f"/{alias}/_search?include_named_queries_score=true", json=named)
                    else:
                        timed(side, "/_msearch", content=many, headers=ndjson)
                for top, side in smaller.items():
                    body = extractor.request_body(context, ids[:top])
                    timed(side, f"/{alias}/_search?include_named_queries_score=true", json=body)
    window_cpu = cpu["window query"] / max(1, len(latency["window query"]))
    sides = [
        Side(
            side=side,
            requests=len(values),
            p50_ms=round(percentile(values, 0.5), 3),
            p95_ms=round(percentile(values, 0.95), 3),
            opensearch_cpu_ms=round(cpu[side] / max(1, len(values)) * 1000, 3),
            of_window_query_cpu=round(cpu[side] / max(1, len(values)) / window_cpu, 2) if window_cpu else 0.0,
        )
        for side, values in latency.items()
    ]
    by = {s.side: s for s in sides}
    cheaper = "named" if by["named"].opensearch_cpu_ms <= by["msearch"].opensearch_cpu_ms else "msearch"
    return LtrFeaturesBench(
        benchmark="bench-ltr-features",
        environment=environment(),
        window=WINDOW,
        queries=len(queries),
        rounds=ROUNDS,
        features_templated=len(featureset.templated),
        featureset=featureset.name,
        sides=sides,
        cheaper=cheaper,
        carried_extra_cpu_ms=round(by[carried].opensearch_cpu_ms - by["window query"].opensearch_cpu_ms, 3),
    )


def main() -> int:
    report = run(get_settings())
    env = report.environment
    named = next(s.opensearch_cpu_ms for s in report.sides if s.side == "named")
    lines = [
        f"# bench-ltr-features ({env['commit']}, {env['measured_at']})",
        "",
        f"The {report.features_templated} templated features of `{report.featureset}` for a window of up to "
        f"{report.window} products, {report.queries} golden queries x {report.rounds} rounds, interleaved; "
        "OpenSearch CPU (process tree, user + system) and client latency per request. Baseline: the "
        "keyword window query, in the same rounds.",
        "",
        "| request | requests | p50 ms | p95 ms | OpenSearch CPU ms | CPU vs window query |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {s.side} | {s.requests} | {s.p50_ms:.2f} | {s.p95_ms:.2f} | {s.opensearch_cpu_ms:.2f} | "
            f"{s.of_window_query_cpu:.2f}x |"
            for s in report.sides
        ],
        "",
        f"Cheaper of the two separate requests: **{report.cheaper}**.",
        "",
        f"Carried in the window query, the features add **{report.carried_extra_cpu_ms:.2f} ms** of "
        f"OpenSearch CPU to it, against {named:.2f} ms for the named request of their own. The service "
        "carries them when a model ranks (`FeatureExtractor.scored_in`) and sends the named request only "
        "for hits whose request did not.",
    ]
    return publish_report("bench-ltr-features", report, lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Checks that a cluster can serve Quarry: plugins, the LTR feature store and a lucene k-NN query.

Run after every start (`opensearch/opensearchctl start`) so a broken node fails loudly at start-up
instead of at the first search.
"""

from __future__ import annotations

import os
import sys

import msgspec

from quarry import connections
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.settings import get_settings

KNN_PLUGIN = "opensearch-knn"
LTR_PLUGINS = ("opensearch-ltr", "ltr")


class PlatformReport(msgspec.Struct):
    cluster_status: str
    plugins: list[str]
    knn_plugin: bool
    ltr_plugin: bool
    ltr_feature_store: bool
    knn_query_ok: bool
    problems: list[str]


def has_ltr(plugins: list[str]) -> bool:
    return any(name in plugins for name in LTR_PLUGINS)


def ensure_ltr_feature_store(engine: SearchEngine) -> None:
    """Create the default feature store (`/_ltr`) once; an existing store is fine."""
    try:
        engine.request("PUT", "/_ltr")
    except SearchEngineError as exc:
        if exc.status != 400 or "already" not in str(exc):
            raise
    engine.request("GET", "/_ltr")


def knn_smoke_query(engine: SearchEngine) -> bool:
    """A lucene-engine HNSW index must answer a `knn` query (the zip may lack native engines)."""
    index = f"quarry-knn-smoke-{os.getpid()}"
    engine.delete_index(index)
    try:
        engine.create_index(
            index,
            {
                "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
                "mappings": {
                    "properties": {
                        "v": {
                            "type": "knn_vector",
                            "dimension": 3,
                            "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                        }
                    }
                },
            },
        )
        engine.bulk(
            b'{"index":{"_index":"%s","_id":"a"}}\n{"v":[1,0,0]}\n'
            b'{"index":{"_index":"%s","_id":"b"}}\n{"v":[0,1,0]}\n' % (index.encode(), index.encode())
        )
        engine.refresh(index)
        result = engine.search(index, {"size": 1, "query": {"knn": {"v": {"vector": [0.9, 0.1, 0], "k": 1}}}})
        return bool(result.hits) and result.hits[0].id == "a"
    finally:
        engine.delete_index(index)


def check(engine: SearchEngine, require_ltr: bool) -> PlatformReport:
    problems: list[str] = []
    health = engine.health()
    plugins = engine.plugins()
    knn = KNN_PLUGIN in plugins
    ltr = has_ltr(plugins)
    if not knn:
        problems.append(f"k-NN plugin missing (plugins: {plugins})")
    knn_ok = knn and knn_smoke_query(engine)
    if knn and not knn_ok:
        problems.append("a lucene knn_vector index did not answer a knn query")
    store = False
    if ltr:
        ensure_ltr_feature_store(engine)
        store = True
    elif require_ltr:
        problems.append("Learning-to-Rank plugin missing (QUARRY_REQUIRE_LTR=true)")
    return PlatformReport(
        cluster_status=health.status,
        plugins=plugins,
        knn_plugin=knn,
        ltr_plugin=ltr,
        ltr_feature_store=store,
        knn_query_ok=knn_ok,
        problems=problems,
    )


def main(argv: list[str]) -> int:
    if argv[:1] != ["verify"]:
        print("usage: python -m quarry.platform verify", file=sys.stderr)
        return 2
    settings = get_settings()
    engine = connections.search_engine(settings)
    try:
        report = check(engine, settings.require_ltr)
    except SearchEngineError as exc:
        print(f"[verify] ERROR: {exc}", file=sys.stderr)
        return 1
    print(msgspec.json.encode(report).decode())
    if not report.ltr_plugin:
        print(
            "[verify] WARNING: the Learning-to-Rank plugin is not installed; sltr rescoring is unavailable. "
            "See docs/platform.md#learning-to-rank-plugin.",
            file=sys.stderr,
        )
    if report.problems:
        for problem in report.problems:
            print(f"[verify] ERROR: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""`make bench-index`: Quarry's indexing pipeline against plain opensearch-py `helpers.bulk`.

Both load the same 20,000 demo products (no embeddings) into an index with the same settings and
mappings, in alternating rounds on the same node. Quarry's time covers the whole versioned build
(create, bulk with retries, settings restore, verification, alias swap); the baseline's covers bulk
plus the refresh that makes documents searchable. Goal: Quarry within 10% of the baseline.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import msgspec
from opensearchpy import OpenSearch, helpers

from pipelines.bench.report import environment, write_report
from pipelines.catalog.generator import generate_catalog
from pipelines.indexing.versions import build_from_documents, load_index_body, versions
from pipelines.synonyms.rules import load_rules, opensearch_rules
from quarry import connections
from quarry.logs import configure_logging
from quarry.settings import get_settings

ROUNDS = 5
WARMUP_DOCS = 3000
BENCH_ALIAS = "bench-quarry"
BASELINE_INDEX = "bench-baseline"


class Round(msgspec.Struct):
    round: int
    baseline_seconds: float
    baseline_docs_per_second: float
    quarry_seconds: float
    quarry_docs_per_second: float


class IndexBenchReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, Any]
    opensearch_version: str
    documents: int
    chunk_size: int
    rounds: list[Round]
    baseline_median_docs_per_second: float
    quarry_median_docs_per_second: float
    quarry_vs_baseline: float
    goal: str
    goal_met: bool


def _baseline(
    client: OpenSearch, body: dict[str, Any], docs: list[tuple[str, dict[str, Any]]], chunk: int
) -> float:
    client.indices.delete(index=BASELINE_INDEX, ignore_unavailable=True)
    client.indices.create(index=BASELINE_INDEX, body=body)
    started = time.perf_counter()
    helpers.bulk(
        client, ({"_index": BASELINE_INDEX, "_id": i, "_source": d} for i, d in docs), chunk_size=chunk
    )
    client.indices.refresh(index=BASELINE_INDEX)
    seconds = time.perf_counter() - started
    assert client.count(index=BASELINE_INDEX)["count"] == len(docs)  # noqa: S101 - narrows a type; not a check of input
    client.indices.delete(index=BASELINE_INDEX)
    return seconds


def main() -> int:
    settings = get_settings()
    configure_logging("WARNING")
    engine = connections.search_engine(settings)
    client = connections.raw_opensearch(settings, timeout_s=120)
    rules = opensearch_rules(load_rules(settings.synonyms_dir)[0])
    body = load_index_body(settings.mappings_dir, rules, settings.embedding_dimension)
    docs = [
        (p.product_id, p.to_document())
        for p in generate_catalog(settings.catalog_size, settings.catalog_seed)
    ]
    # An untimed warm-up of both paths, so JIT compilation on the node does not land on round 1.
    _baseline(client, body, docs[:WARMUP_DOCS], settings.bulk_chunk_size)
    build_from_documents(engine, settings, BENCH_ALIAS, iter(docs[:WARMUP_DOCS]), rules)
    rounds = []
    for number in range(1, ROUNDS + 1):
        # Alternate who goes first so warm-up and background noise do not favour one side.
        order = ["baseline", "quarry"] if number % 2 else ["quarry", "baseline"]
        timings: dict[str, float] = {}
        for side in order:
            if side == "baseline":
                timings[side] = _baseline(client, body, docs, settings.bulk_chunk_size)
            else:
                started = time.perf_counter()
                build_from_documents(engine, settings, BENCH_ALIAS, iter(docs), rules, total=len(docs))
                timings[side] = time.perf_counter() - started
        rounds.append(
            Round(
                number,
                timings["baseline"],
                len(docs) / timings["baseline"],
                timings["quarry"],
                len(docs) / timings["quarry"],
            )
        )
        print(
            f"round {number}: baseline {rounds[-1].baseline_docs_per_second:,.0f} docs/s, "
            f"quarry {rounds[-1].quarry_docs_per_second:,.0f} docs/s",
            file=sys.stderr,
        )
    for index in versions(engine, BENCH_ALIAS):
        engine.delete_index(index)
    baseline = statistics.median(r.baseline_docs_per_second for r in rounds)
    quarry = statistics.median(r.quarry_docs_per_second for r in rounds)
    report = IndexBenchReport(
        benchmark="bench-index",
        environment=environment(),
        opensearch_version=client.info()["version"]["number"],
        documents=len(docs),
        chunk_size=settings.bulk_chunk_size,
        rounds=rounds,
        baseline_median_docs_per_second=round(baseline, 1),
        quarry_median_docs_per_second=round(quarry, 1),
        quarry_vs_baseline=round(quarry / baseline, 3),
        goal="quarry >= 0.9 x baseline",
        goal_met=quarry >= 0.9 * baseline,
    )
    table = "\n".join(
        [
            f"# bench-index ({report.environment['commit']}, {report.environment['measured_at']})",
            "",
            f"{len(docs):,} demo products, no embeddings, chunk size {settings.bulk_chunk_size}, "
            f"OpenSearch {report.opensearch_version}, {ROUNDS} alternating rounds on one node "
            "after an untimed warm-up.",
            "",
            "| round | helpers.bulk (docs/s) | Quarry pipeline (docs/s) | Quarry / baseline |",
            "| ---: | ---: | ---: | ---: |",
            *[
                f"| {r.round} | {r.baseline_docs_per_second:,.0f} | {r.quarry_docs_per_second:,.0f} | "
                f"{r.quarry_docs_per_second / r.baseline_docs_per_second:.2f} |"
                for r in rounds
            ],
            f"| **median** | **{baseline:,.0f}** | **{quarry:,.0f}** | **{quarry / baseline:.2f}** |",
            "",
            f"Goal (Quarry within 10% of the baseline): {'met' if report.goal_met else 'NOT met'}.",
        ]
    )
    json_path, md_path = write_report("bench-index", report, table)
    print(table)
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

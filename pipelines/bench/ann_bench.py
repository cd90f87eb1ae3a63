"""`make bench-ann`: recall@10 of OpenSearch's k-NN query and of the FAISS index against exact
brute-force search over the same vectors, with latency, at several search-effort settings.

Queries: the golden queries plus product-like texts (titles of sampled products, lower-cased) up to
1,000, embedded with the catalog's model. Ground truth: ExactVectorIndex over the vectors stored in the
live FAISS artifact (the same vectors OpenSearch holds). The chosen setting is the cheapest whose
recall is at least 0.95 on both sides.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

import msgspec
import numpy as np
from tqdm import tqdm

from pipelines.bench.load import percentile
from pipelines.bench.report import environment, publish_report
from pipelines.golden import load_queries
from quarry import connections
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.embeddings import SentenceTransformerEncoder
from quarry.settings import get_settings
from quarry.vector_index import ARTIFACT, ExactVectorIndex, load_vector_index

K = 10
QUERIES = 1000
TARGET = 0.95
FAISS_EF = (16, 32, 64, 128, 256)
KNN_CANDIDATES = (10, 25, 50, 100, 200)


class Setting(msgspec.Struct):
    engine: str
    parameter: str
    value: int
    recall_at_10: float
    mean_ms: float
    p95_ms: float


class AnnReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, Any]
    vectors: int
    queries: int
    model: str
    settings: list[Setting]
    chosen: dict[str, Setting | None]


def sample_queries(titles: list[str], count: int, seed: int = 7) -> list[str]:
    golden = [q.query for q in load_queries()]
    rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not security
    extra = [t.lower() for t in rng.sample(titles, min(len(titles), max(0, count - len(golden))))]
    return (golden + extra)[:count]


def recall(found: list[str], truth: list[str]) -> float:
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def measure(
    name: str, parameter: str, value: int, search: Any, vectors: np.ndarray, truth: list[list[str]]
) -> Setting:
    recalls, timings = [], []
    for vector, expected in zip(vectors, truth, strict=True):
        started = time.perf_counter()
        found = search(vector)
        timings.append((time.perf_counter() - started) * 1000)
        recalls.append(recall(found, expected))
    return Setting(
        engine=name,
        parameter=parameter,
        value=value,
        recall_at_10=round(statistics.fmean(recalls), 4),
        mean_ms=round(statistics.fmean(timings), 3),
        p95_ms=round(percentile(timings, 0.95), 3),
    )


def describe(setting: Setting | None) -> str:
    if setting is None:
        return "none reaches the target"
    return (
        f"{setting.parameter}={setting.value} (recall {setting.recall_at_10:.4f}, "
        f"p95 {setting.p95_ms:.2f} ms)"
    )


def main() -> int:
    settings = get_settings()
    store = LocalArtifactStore(settings.artifacts_dir)
    version = store.current(ARTIFACT)
    if version is None:
        print("no FAISS artifact: run make embeddings first", file=sys.stderr)
        return 1
    faiss_index, metadata = load_vector_index(store, version)
    ids = faiss_index.ids
    stored = faiss_index.vectors(ids)
    exact = ExactVectorIndex(ids, np.vstack([stored[i] for i in ids]))
    engine = connections.search_engine(settings)
    titles = [str(h.source.get("title", "")) for h in engine.scan(settings.products_alias, None)]
    queries = sample_queries(titles, QUERIES)
    encoder = SentenceTransformerEncoder(metadata.model)
    vectors = encoder.encode(queries, progress=True)
    truth = [[pid for pid, _ in exact.search(v, K)] for v in tqdm(vectors, desc="exact top-10", disable=None)]

    results: list[Setting] = []
    for ef in FAISS_EF:
        faiss_index.set_ef_search(ef)
        results.append(
            measure(
                "faiss_hnsw",
                "ef_search",
                ef,
                lambda v: [p for p, _ in faiss_index.search(v, K)],
                vectors,
                truth,
            )
        )
        print(msgspec.json.encode(results[-1]).decode(), file=sys.stderr)
    for candidates in KNN_CANDIDATES:

        def knn(vector: np.ndarray, candidates: int = candidates) -> list[str]:
            body = {
                "size": K,
                "_source": False,
                "docvalue_fields": ["product_id"],
                "query": {"knn": {"embedding": {"vector": vector.tolist(), "k": candidates}}},
            }
            return [h.fields["product_id"][0] for h in engine.search(settings.products_alias, body).hits]

        results.append(measure("opensearch_knn", "k", candidates, knn, vectors, truth))
        print(msgspec.json.encode(results[-1]).decode(), file=sys.stderr)

    def cheapest(name: str) -> Setting | None:
        good = [r for r in results if r.engine == name and r.recall_at_10 >= TARGET]
        return min(good, key=lambda r: r.value) if good else None

    chosen = {"faiss_hnsw": cheapest("faiss_hnsw"), "opensearch_knn": cheapest("opensearch_knn")}
    report = AnnReport(
        benchmark="ann-recall",
        environment=environment(),
        vectors=len(ids),
        queries=len(queries),
        model=metadata.model,
        settings=results,
        chosen=chosen,
    )
    lines = [
        f"# ann-recall ({report.environment['commit']}, {report.environment['measured_at']})",
        "",
        f"recall@10 against exact brute-force search over the same {len(ids):,} vectors ({metadata.model}), "
        f"{len(queries)} queries (golden queries plus sampled product titles). Target: >= {TARGET}.",
        "",
        "| engine | parameter | value | recall@10 | mean ms | p95 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {r.engine} | {r.parameter} | {r.value} | {r.recall_at_10:.4f} | {r.mean_ms:.3f} | "
            f"{r.p95_ms:.3f} |"
            for r in results
        ],
        "",
        "| engine | chosen setting |",
        "| --- | --- |",
        *[f"| {name} | {describe(c)} |" for name, c in chosen.items()],
    ]
    return publish_report("ann-recall", report, lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""`make semantic-floor`: where the semantic similarity floor cuts, for the embedding model served.

Semantic candidates join a search only at or above the embedding model's similarity floor
(`RankingConfig.semantic_floor(model)`, from quarry/search/ranking.json). The floor is there so that a
query no product answers gets no results instead of the least unrelated products, while a
descriptive query with no keyword match still gets its semantic candidates. This measures both
sides for a range of floors: the share of the golden queries (and of the conceptual ones) whose best
product falls under the floor, against the share of the queries in tests/golden/nonsense.txt whose
best product clears it. The best product is the query's top FAISS neighbour over the whole catalog,
with the query encoder the API uses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np
from tqdm import tqdm

from pipelines.bench.report import environment, publish_report
from pipelines.golden import GOLDEN_DIR, load_queries
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.onnx_encoder import load_query_encoder
from quarry.search.ranking import load_config_file
from quarry.search.semantic import SemanticIndex
from quarry.settings import PROJECT_ROOT, get_settings

FLOORS = tuple(round(0.15 + 0.025 * i, 3) for i in range(11))  # 0.15 ... 0.40


class FloorRow(msgspec.Struct, frozen=True):
    floor: float
    golden_without_candidates: float  # share of golden queries whose best product is under the floor
    conceptual_without_candidates: float
    nonsense_admitted: float  # share of nonsense queries whose best product clears the floor


class QuerySimilarity(msgspec.Struct, frozen=True):
    query: str
    kind: str  # a golden kind, or "nonsense"
    best: float


class FloorReport(msgspec.Struct):
    benchmark: str
    environment: dict[str, object]
    model: str
    query_encoder: str
    configured_floor: float
    rows: list[FloorRow]
    queries: list[QuerySimilarity]


def load_nonsense(path: Path = GOLDEN_DIR / "nonsense.txt") -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _share(flags: Sequence[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def floor_rows(queries: Sequence[QuerySimilarity], floors: Sequence[float] = FLOORS) -> list[FloorRow]:
    """A query has semantic candidates when its best product is at or above the floor (the API keeps
    candidates with similarity >= floor)."""
    golden = [q.best for q in queries if q.kind != "nonsense"]
    conceptual = [q.best for q in queries if q.kind == "conceptual"]
    nonsense = [q.best for q in queries if q.kind == "nonsense"]
    return [
        FloorRow(
            floor=floor,
            golden_without_candidates=_share([best < floor for best in golden]),
            conceptual_without_candidates=_share([best < floor for best in conceptual]),
            nonsense_admitted=_share([best >= floor for best in nonsense]),
        )
        for floor in floors
    ]


def _plot(queries: Sequence[QuerySimilarity], configured: float, model: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {
        "golden (not conceptual)": [q.best for q in queries if q.kind not in ("nonsense", "conceptual")],
        "golden conceptual": [q.best for q in queries if q.kind == "conceptual"],
        "nonsense": [q.best for q in queries if q.kind == "nonsense"],
    }
    figure, axes = plt.subplots(figsize=(8, 4))
    bins = [i / 40 for i in range(41)]
    for label, values in groups.items():
        axes.hist(values, bins=bins, alpha=0.55, label=f"{label} ({len(values)})", density=True)
    axes.axvline(configured, color="black", linestyle="--", label=f"configured floor {configured}")
    axes.set_xlabel("cosine similarity of the best product")
    axes.set_ylabel("density")
    axes.set_title(f"Best semantic match per query: {model}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--report", default="semantic-floor", help="reports/<name>.{json,md,png}")
    args = parser.parse_args(argv)
    settings = get_settings()
    store = LocalArtifactStore(settings.artifacts_dir)
    index = SemanticIndex(store, reload_interval_s=3600).get(allow_reload=False)
    if index is None:
        print("no FAISS artifact in the model store: run make embeddings", file=sys.stderr)
        return 1
    encoder = load_query_encoder(settings, store)
    configured = load_config_file(settings.ranking_config).semantic_floor(settings.embedding_model)
    # Absent queries (things the shop does not sell) have nothing to find: neither golden queries a
    # floor must let through nor nonsense.
    golden = [(q.query, q.kind) for q in load_queries() if q.kind != "absent"]
    asked = golden + [(q, "nonsense") for q in load_nonsense()]
    queries = []
    for text, kind in tqdm(asked, desc="queries", unit="query", disable=None):
        vector = np.asarray(encoder.encode([text]), dtype="float32").reshape(-1)
        best = index.search(vector, 1)
        queries.append(QuerySimilarity(text, kind, best[0][1] if best else 0.0))  # rounded for display only
    rows = floor_rows(queries)
    report = FloorReport(
        benchmark="semantic-floor",
        environment=environment(),
        model=settings.embedding_model,
        query_encoder=settings.query_encoder,
        configured_floor=configured,
        rows=rows,
        queries=queries,
    )
    png = PROJECT_ROOT / "reports" / f"{args.report}.png"
    png.parent.mkdir(exist_ok=True)
    _plot(queries, configured, settings.embedding_model, png)
    nonsense = sorted((q for q in queries if q.kind == "nonsense"), key=lambda q: -q.best)
    lines = [
        f"# semantic-floor: {settings.embedding_model} ({report.environment['commit']}, "
        f"{report.environment['measured_at']})",
        "",
        f"Best product per query (top FAISS neighbour over the catalog, {settings.query_encoder} query "
        f"vectors) for {sum(q.kind != 'nonsense' for q in queries)} golden queries and "
        f"{len(nonsense)} nonsense queries (tests/golden/nonsense.txt). Configured floor: "
        f"{configured}. Distribution: {png.name}.",
        "",
        "| floor | golden queries without semantic candidates | conceptual without | nonsense admitted |",
        "| ---: | ---: | ---: | ---: |",
        *[
            f"| {r.floor:.3f}{' (configured)' if abs(r.floor - configured) < 1e-9 else ''} | "
            f"{r.golden_without_candidates:.1%} | {r.conceptual_without_candidates:.1%} | "
            f"{r.nonsense_admitted:.1%} |"
            for r in rows
        ],
        "",
        "Nonsense queries, highest best-product similarity first:",
        "",
        "| query | best similarity |",
        "| --- | ---: |",
        *[f"| {q.query} | {q.best:.3f} |" for q in nonsense[:12]],
    ]
    return publish_report(args.report, report, lines)


if __name__ == "__main__":
    raise SystemExit(main())

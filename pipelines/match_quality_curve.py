"""The trade-off behind match quality's similarity thresholds (quarry/search/match_quality.py).

Every query of four sets is searched once through the search core (in process, as `make eval` does), and
its match signals kept; the thresholds are then swept offline with the same `quality` function the API
uses. A lower partial threshold credits more queries by meaning: descriptive queries for products the
shop has stop being `none`, and so do more queries for things it does not sell. Sets:
- products exist: the golden queries with something relevant (tests/golden/queries.tsv, not absent);
- absent: the golden `absent` kind and tests/golden/absent.txt (things this shop does not sell);
- nonsense: tests/golden/nonsense.txt.
The goal (issue 13): `none` for at least 80 % of the absent and nonsense queries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from pipelines.golden import GOLDEN_DIR, load_queries
from pipelines.query_sets import data_lines
from quarry.search.match_quality import MatchSignals, MatchThresholds, quality

GAP = 0.15  # the good threshold sits this far above the partial one
GRID = [round(0.30 + 0.025 * i, 3) for i in range(17)]  # partial thresholds 0.30 .. 0.70
GOAL_NONE = 0.8
EVAL_USER = "quarry-match-quality"  # synthetic traffic: kept out of logged-query vocabularies


class Observed(msgspec.Struct, frozen=True):
    query: str
    results: int
    signals: MatchSignals


class CurvePoint(msgspec.Struct, frozen=True):
    partial_similarity: float
    good_similarity: float
    absent_or_nonsense_none: float
    products_exist_none: float
    products_exist_good: float


def query_sets() -> dict[str, list[str]]:
    golden = load_queries()
    return {
        "products exist": [q.query for q in golden if q.kind != "absent"],
        "absent": [q.query for q in golden if q.kind == "absent"] + data_lines(GOLDEN_DIR / "absent.txt"),
        "nonsense": data_lines(GOLDEN_DIR / "nonsense.txt"),
    }


def observe(settings: Any) -> dict[str, list[Observed]]:
    from quarry.search.assembly import offline_search_service
    from quarry.search.schemas import SearchRequest

    observed: dict[str, list[Observed]] = {}
    with offline_search_service(settings) as service:
        shopper = service.privacy.shopper(EVAL_USER, None)
        for name, queries in query_sets().items():
            rows = []
            for query in dict.fromkeys(queries):
                request = SearchRequest(q=query, size=10, user_id=shopper.user)
                try:
                    response = service.search(request)
                except ValueError:
                    continue  # refused queries (empty after normalization) say nothing about matches
                if response.match is not None:  # every search the core answers has one
                    rows.append(Observed(query, len(response.results), response.match))
            observed[name] = rows
    return observed


def _share(rows: list[Observed], wanted: str, thresholds: MatchThresholds) -> float:
    if not rows:
        return 0.0
    return sum(1 for r in rows if quality(r.signals, r.results, thresholds) == wanted) / len(rows)


def curve(observed: dict[str, list[Observed]]) -> list[CurvePoint]:
    outside = observed.get("absent", []) + observed.get("nonsense", [])
    inside = observed.get("products exist", [])
    points = []
    for partial in GRID:
        thresholds = MatchThresholds(good_similarity=round(partial + GAP, 3), partial_similarity=partial)
        points.append(
            CurvePoint(
                partial_similarity=partial,
                good_similarity=thresholds.good_similarity,
                absent_or_nonsense_none=round(_share(outside, "none", thresholds), 4),
                products_exist_none=round(_share(inside, "none", thresholds), 4),
                products_exist_good=round(_share(inside, "good", thresholds), 4),
            )
        )
    return points


def recommended(points: list[CurvePoint]) -> CurvePoint | None:
    """The lowest partial threshold that keeps the goal: the most credit by meaning it allows."""
    meeting = [p for p in points if p.absent_or_nonsense_none >= GOAL_NONE]
    return min(meeting, key=lambda p: p.partial_similarity) if meeting else None


def plot(points: list[CurvePoint], configured: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4))
    xs = [p.partial_similarity for p in points]
    axes.plot(xs, [p.absent_or_nonsense_none for p in points], marker="o", label="absent + nonsense: none")
    axes.plot(xs, [p.products_exist_none for p in points], marker="o", label="products exist: none")
    axes.plot(xs, [p.products_exist_good for p in points], marker="o", label="products exist: good")
    axes.axhline(GOAL_NONE, color="gray", linestyle=":", label="goal: none for 80 % of absent + nonsense")
    axes.axvline(configured, color="black", linestyle="--", label=f"configured {configured}")
    axes.set_xlabel(f"partial similarity threshold (good = partial + {GAP})")
    axes.set_ylabel("share of queries")
    axes.set_title("Match quality: what a similarity threshold trades")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

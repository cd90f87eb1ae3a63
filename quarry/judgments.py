"""Graded judgments (0-4 per query and product) and the measures read from them, shared by the
offline evaluation (`make eval`) and the relevance workbench, so both score a ranking the same way."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

K = 10
RELEVANT = 3
"""The grade from which a product counts as relevant (reciprocal rank)."""


def dcg(grades: list[int]) -> float:
    return sum(float(2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:K]))


def ndcg_at_10(ranked: list[str], judged: dict[str, int]) -> float:
    ideal = dcg(sorted(judged.values(), reverse=True))
    return dcg([judged.get(pid, 0) for pid in ranked]) / ideal if ideal > 0 else 0.0


def load_judgments(path: Path) -> dict[str, dict[str, int]]:
    """query -> product id -> grade, from a gzipped TSV with the columns query, product_id, grade."""
    graded: dict[str, dict[str, int]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            graded.setdefault(row["query"], {})[row["product_id"]] = int(row["grade"])
    return graded

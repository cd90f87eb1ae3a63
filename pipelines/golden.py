"""The judged golden set: grading rules over the demo catalog's structured attributes.

`make golden` pools candidates for every query in tests/golden/queries.tsv (raw BM25 top 50, plus
every product the rules grade 2 or more) and grades each pair 0-4 with the rules below, writing
tests/golden/judgments.tsv. The rules read only the generator's structured fields (leaf category,
brand, attributes, title words), never a ranker's output, so the set can judge any ranker.

- 4: the right leaf category, every identity constraint (brand, title words, the product an
  accessory fits) and every attribute constraint holds;
- 3: right leaf and identity, at least half of the attribute constraints;
- 2: right leaf and identity, fewer than half of the attribute constraints;
- 1: right leaf but a failed identity constraint (another brand, another model), or another leaf of
  the same department that satisfies an identity constraint (the phone for a phone-case query);
- 0: anything else.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import msgspec

from pipelines.catalog.generator import generate_catalog
from pipelines.catalog.schema import Product
from pipelines.synonyms.apply import keyword_query
from quarry.adapters.search_engine import SearchEngine

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "golden"
IDENTITY_KEYS = ("brand", "title", "target")
BM25_POOL = 50


class Reading(msgspec.Struct, frozen=True):
    """One interpretation of a query: the leaf categories it wants and its constraints."""

    leaves: tuple[str, ...]
    constraints: tuple[tuple[str, str], ...]


class GoldenQuery(msgspec.Struct, frozen=True):
    query: str
    kind: str
    readings: tuple[Reading, ...]


class Judgment(msgspec.Struct, frozen=True):
    query: str
    product_id: str
    grade: int


def _reading(leaves: str, constraints: str) -> Reading:
    pairs = []
    for item in constraints.split(";"):
        if item.strip():
            key, _, value = item.partition("=")
            pairs.append((key.strip(), value.strip()))
    return Reading(tuple(x.strip() for x in leaves.split(",") if x.strip()), tuple(pairs))


def load_queries(path: Path = GOLDEN_DIR / "queries.tsv") -> list[GoldenQuery]:
    queries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        query, kind, leaves, constraints = [*line.split("\t"), "", "", ""][:4]
        leaf_options = leaves.split(" | ")
        constraint_options = (
            constraints.split(" | ") if " | " in constraints else [constraints] * len(leaf_options)
        )
        readings = tuple(_reading(lv, cs) for lv, cs in zip(leaf_options, constraint_options, strict=True))
        queries.append(GoldenQuery(query=query, kind=kind, readings=readings))
    return queries


def _satisfied(product: Product, key: str, value: str) -> bool:
    wanted = value.lower()
    if key == "brand":
        return product.brand.lower() == wanted
    if key == "title":
        return wanted in product.title.lower()
    if key == "target":  # an accessory names what it fits in its title and description
        return wanted in product.title.lower() or wanted in product.description.lower()
    return product.attributes.get(key, "").lower() == wanted


def grade_reading(product: Product, reading: Reading, departments: dict[str, str]) -> int:
    leaf = product.category_path[-1]
    right_leaf = "*" in reading.leaves or leaf in reading.leaves
    identity = [_satisfied(product, k, v) for k, v in reading.constraints if k in IDENTITY_KEYS]
    attributes = [_satisfied(product, k, v) for k, v in reading.constraints if k not in IDENTITY_KEYS]
    if right_leaf:
        if not all(identity):
            return 1
        if all(attributes):
            return 4
        return 3 if sum(attributes) * 2 >= len(attributes) else 2
    wanted_departments = {departments.get(x) for x in reading.leaves}
    if product.category_path[0] in wanted_departments and identity and any(identity):
        return 1
    return 0


def grade(product: Product, query: GoldenQuery, departments: dict[str, str]) -> int:
    return max(grade_reading(product, reading, departments) for reading in query.readings)


def leaf_departments(products: Iterable[Product]) -> dict[str, str]:
    return {p.category_path[-1]: p.category_path[0] for p in products}


def build_judgments(engine: SearchEngine, alias: str, size: int, seed: int) -> list[Judgment]:
    catalog = {p.product_id: p for p in generate_catalog(size, seed)}
    departments = leaf_departments(catalog.values())
    judgments: list[Judgment] = []
    for query in load_queries():
        pool = [h.id for h in engine.search(alias, keyword_query(query.query, size=BM25_POOL)).hits]
        # Every product the rules call relevant (grade >= 2) is judged, so a ranker that digs deeper than
        # BM25's top 50 is never punished for finding relevant products nobody looked at.
        pool += [pid for pid, p in catalog.items() if grade(p, query, departments) >= 2]
        for product_id in dict.fromkeys(pool):
            if product_id in catalog:
                judgments.append(
                    Judgment(query.query, product_id, grade(catalog[product_id], query, departments))
                )
    return judgments


def write_judgments(judgments: list[Judgment], path: Path = GOLDEN_DIR / "judgments.tsv") -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query", "product_id", "grade"])
        writer.writerows((j.query, j.product_id, j.grade) for j in judgments)


def load_judgments(path: Path = GOLDEN_DIR / "judgments.tsv") -> dict[str, dict[str, int]]:
    graded: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            graded.setdefault(row["query"], {})[row["product_id"]] = int(row["grade"])
    return graded

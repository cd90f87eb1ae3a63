"""The judged golden set: grading rules over the demo catalog's structured attributes.

`make golden` pools candidates for every query in tests/golden/queries.tsv (raw BM25 top 50, plus
every product the rules grade 2 or more) and grades each pair 0-4 with the rules below, writing
tests/golden/judgments.tsv.gz. The rules read only the generator's structured fields (leaf category,
brand, attributes, price, rating, title words, the model an accessory fits), never a ranker's output,
so the set can judge any ranker.

- 4: the right leaf category, every identity constraint (brand, title words, the product an
  accessory fits) and every attribute constraint holds;
- 3: right leaf and identity, at least half of the attribute constraints;
- 2: right leaf and identity, fewer than half of the attribute constraints;
- 1: right leaf but a failed identity constraint (another brand, another model), or another leaf of
  the same department that satisfies an identity constraint (the phone for a phone-case query);
- 0: anything else.

Attribute constraints are `key=value` on a catalog attribute (color, size, storage, screen, ...) and
the numeric comparisons `price<30`, `price<=100`, `price>500`, `price>=20;price<=40`, `rating>=4`:
the bounds on one key make one constraint (a price range is met or not, never half met). A product
without a price or rating fails a comparison on it. A reading over every leaf (`*`) asks for nothing
but its constraints, so there they are all identity constraints (`orange` the colour: a blue product
is not "right leaf, wrong colour"). `target` is the model an accessory is made to fit (its description
says "Made to fit the Apple iPhone 15 Pro."): a full model name must match it exactly (an iPhone 15 Pro
case does not fit an iPhone 15), a family (`Apple iPhone`, `Google Pixel`) matches each of its models.
A leaf column of `-` (the `absent` kind) names nothing the catalog sells: every product grades 0.
"""

from __future__ import annotations

import csv
import gzip
import io
import operator
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from pipelines.catalog.generator import generate_catalog
from pipelines.catalog.schema import Product
from pipelines.catalog.vocabulary import LAPTOP_MODELS, PHONE_MODELS
from pipelines.synonyms.apply import keyword_query
from quarry.adapters.search_engine import SearchEngine
from quarry.judgments import load_judgments as read_judgments

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "golden"
IDENTITY_KEYS = ("brand", "title", "target")
NUMERIC_KEYS = ("price", "rating")  # compared with <, <=, >, >= (never =)
# Attributes whose values carry a number and a unit (or a size): what a `numeric` query may ask for
# instead of a price or rating ("55 inch tv", "256gb iphone", "sneakers size 10", "xl shirt").
UNIT_KEYS = frozenset(
    {"screen", "storage", "ram", "capacity", "size", "thickness", "wattage", "length", "persons", "pieces"}
    | {"height", "volume", "weight", "seats", "frame", "wheel", "pack"}
)
ANY_LEAF = "*"
NO_LEAF = "-"  # the leaf column of an `absent` query: the catalog sells nothing it asks for
BM25_POOL = 50
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_CONSTRAINT = re.compile(r"^\s*(?P<key>[a-z_]+)\s*(?P<op><=|>=|<|>|=)\s*(?P<value>.*?)\s*$")
_FITS = re.compile(r"Made to fit the (?P<model>.+?)\.(?:\s|$)")
KNOWN_MODELS = frozenset(
    f"{brand} {model}".lower()
    for models in (PHONE_MODELS, LAPTOP_MODELS)
    for brand, names in models.items()
    for model in names
)


class Constraint(msgspec.Struct, frozen=True):
    """`key op value`: op is `=` for brand, title, target and attributes, a comparison for price and
    rating."""

    key: str
    op: str
    value: str


class Reading(msgspec.Struct, frozen=True):
    """One interpretation of a query: the leaf categories it wants and its constraints. No leaves: the
    catalog sells nothing this reading asks for."""

    leaves: tuple[str, ...]
    constraints: tuple[Constraint, ...]


class GoldenQuery(msgspec.Struct, frozen=True):
    query: str
    kind: str
    readings: tuple[Reading, ...]


class Judgment(msgspec.Struct, frozen=True):
    query: str
    product_id: str
    grade: int


def parse_constraint(text: str) -> Constraint:
    match = _CONSTRAINT.match(text)
    if not match or not match["value"]:
        raise ValueError(f"constraint {text!r}: expected key=value or a comparison such as price<30")
    key, op, value = match["key"], match["op"], match["value"]
    if key in NUMERIC_KEYS:
        if op == "=":
            raise ValueError(f"constraint {text!r}: {key} takes <, <=, > or >= (price<=30, rating>=4)")
        try:
            float(value)
        except ValueError:
            raise ValueError(f"constraint {text!r}: {value!r} is not a number") from None
    elif op != "=":
        raise ValueError(f"constraint {text!r}: only {', '.join(NUMERIC_KEYS)} are compared with {op}")
    return Constraint(key, op, value)


def _reading(leaves: str, constraints: str) -> Reading:
    parsed = tuple(parse_constraint(item) for item in constraints.split(";") if item.strip())
    names = tuple(x.strip() for x in leaves.split(",") if x.strip())
    if not names:
        raise ValueError(f"no target leaf in {leaves!r}: name leaves, {ANY_LEAF} or {NO_LEAF}")
    if NO_LEAF in names:
        if names != (NO_LEAF,) or parsed:
            raise ValueError(f"{NO_LEAF} (nothing the catalog sells) stands alone, without constraints")
        return Reading((), ())
    return Reading(names, parsed)


def load_queries(path: Path = GOLDEN_DIR / "queries.tsv") -> list[GoldenQuery]:
    queries: list[GoldenQuery] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        query, kind, leaves, constraints = [*line.split("\t"), "", "", ""][:4]
        if query in seen:  # judgments are keyed by the query text
            raise ValueError(f"{path.name}:{number}: {query!r} is listed twice")
        seen.add(query)
        leaf_options = leaves.split(" | ")
        constraint_options = (
            constraints.split(" | ") if " | " in constraints else [constraints] * len(leaf_options)
        )
        try:
            readings = tuple(
                _reading(lv, cs) for lv, cs in zip(leaf_options, constraint_options, strict=True)
            )
        except ValueError as error:
            raise ValueError(f"{path.name}:{number}: {error}") from None
        queries.append(GoldenQuery(query=query, kind=kind, readings=readings))
    return queries


def fitted_model(product: Product) -> str | None:
    """The model an accessory is made to fit, as its description names it (lower case)."""
    match = _FITS.search(product.description)
    return match["model"].lower() if match else None


def _fits(product: Product, wanted: str) -> bool:
    model = fitted_model(product)
    if model is None:  # not an accessory (the phone itself): it names the model in its title
        return wanted in product.title.lower() or wanted in product.description.lower()
    if wanted in KNOWN_MODELS:
        return model == wanted
    return model == wanted or model.startswith(wanted + " ")


def _satisfied(product: Product, constraint: Constraint) -> bool:
    key, wanted = constraint.key, constraint.value.lower()
    if key == "brand":
        return product.brand.lower() == wanted
    if key == "title":
        return wanted in product.title.lower()
    if key == "target":
        return _fits(product, wanted)
    if key in NUMERIC_KEYS:
        value = product.price if key == "price" else product.rating
        return value is not None and COMPARISONS[constraint.op](value, float(constraint.value))
    return product.attributes.get(key, "").lower() == wanted


def _checks(product: Product, constraints: Iterable[Constraint]) -> list[bool]:
    """One check per constraint, except that the bounds on one numeric key make a single check."""
    checks: list[bool] = []
    bounds: dict[str, bool] = {}
    for constraint in constraints:
        met = _satisfied(product, constraint)
        if constraint.key in NUMERIC_KEYS:
            bounds[constraint.key] = bounds.get(constraint.key, True) and met
        else:
            checks.append(met)
    return checks + list(bounds.values())


def grade_reading(product: Product, reading: Reading, departments: dict[str, str]) -> int:
    leaf = product.category_path[-1]
    any_leaf = ANY_LEAF in reading.leaves
    right_leaf = any_leaf or leaf in reading.leaves
    identity = _checks(product, (c for c in reading.constraints if any_leaf or c.key in IDENTITY_KEYS))
    attributes = _checks(
        product, (c for c in reading.constraints if not any_leaf and c.key not in IDENTITY_KEYS)
    )
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


# Gzipped: the plain table (a query's text on each of its ~400 rows) was 5.8 MB, too big for git;
# written with a fixed mtime, so re-grading an unchanged set gives the same bytes.
JUDGMENTS_FILE = GOLDEN_DIR / "judgments.tsv.gz"


def write_judgments(judgments: list[Judgment], path: Path = JUDGMENTS_FILE) -> None:
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="") as handle,
    ):
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query", "product_id", "grade"])
        writer.writerows((j.query, j.product_id, j.grade) for j in judgments)


def load_judgments(path: Path = JUDGMENTS_FILE) -> dict[str, dict[str, int]]:
    return read_judgments(path)

"""The query sets that judge query understanding, written or collected independently of it
(tests/golden/README.md#query-understanding-sets), and the rates measured on them.

- WANDS (tests/data/wands, real shopper queries, MIT licence): how many queries without a typo are
  rewritten or questioned, and whether the four real typos are fixed;
- the never-harm set (tests/golden/never_harm.txt) plus the correctly spelled golden queries: how
  many are left exactly as typed;
- the misspelling set (tests/golden/misspellings.tsv): how many are corrected to what was meant
  (applied, or offered as the did_you_mean);
- the entity labels (tests/golden/entities.tsv): precision and recall of (kind, value) pairs.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from quarry.text import normalize, tokens
from quarry.understanding.schemas import UnderstoodQuery

TESTS = Path(__file__).resolve().parent.parent / "tests"
GOLDEN = TESTS / "golden"
WANDS_TYPOS = {"foutains": "fountains", "desins": "designs", "roomtables": "room tables", "doning": "dining"}
TYPED_WRONG = ("typo", "misspelling", "split-join")  # golden kinds misspelt on purpose
ENTITY_KINDS = ("brand", "series", "category", "color", "material", "size")

Understand = Callable[[str], UnderstoodQuery]


@functools.cache
def served_understanding() -> Any:
    """The query understanding of the served artifacts (QUARRY_ARTIFACTS_DIR), as the API builds it."""
    from quarry.settings import load_settings

    return understanding_as_served(load_settings())


def understanding_as_served(settings: Any, remembered_vectors: int | None = None) -> Any:
    """Query understanding over `settings.artifacts_dir` built as the API builds it: with the query
    encoder (spelling weighs an unknown word's readings by meaning) and the FAISS artifact's category
    prototypes (a brand that is an everyday word is checked against what the query fits).
    `remembered_vectors=0` encodes every text every time (what a process that has seen nothing pays)."""
    from quarry.adapters.artifact_store import LocalArtifactStore
    from quarry.onnx_encoder import load_query_encoder
    from quarry.understanding.meaning import REMEMBERED_TEXTS
    from quarry.understanding.services import QueryUnderstanding
    from quarry.vector_index import ARTIFACT, load_vector_index

    store = LocalArtifactStore(settings.artifacts_dir)
    encoder = load_query_encoder(settings, store)
    version = store.current(ARTIFACT)
    prototypes = load_vector_index(store, version)[0].categories if version else None
    return QueryUnderstanding.served(
        settings,
        store,
        lambda text: encoder.encode([text])[0],
        lambda: prototypes,
        REMEMBERED_TEXTS if remembered_vectors is None else remembered_vectors,
    )


def data_lines(path: Path) -> list[str]:
    """A set file's lines, without blanks and `#` comments."""
    text = path.read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def as_searched(text: str) -> str:
    return " ".join(tokens(normalize(text)))


def wands_queries() -> list[str]:
    with (TESTS / "data" / "wands" / "query-even.tsv").open(encoding="utf-8") as handle:
        return [row["query"] for row in csv.DictReader(handle, delimiter="\t")]


def wands_typos() -> list[tuple[str, str]]:
    """(query as typed, query as meant) for the WANDS queries with a real typo."""
    return [
        (query, query.replace(typo, meant))
        for query in wands_queries()
        for typo, meant in WANDS_TYPOS.items()
        if typo in query.split()
    ]


def wands_clean() -> list[str]:
    return [q for q in wands_queries() if not set(q.split()) & set(WANDS_TYPOS)]


def never_harm_queries() -> list[str]:
    judged = (line.split("\t")[:2] for line in data_lines(GOLDEN / "queries.tsv"))
    golden = [query for query, kind in judged if kind not in TYPED_WRONG]
    return list(dict.fromkeys(data_lines(GOLDEN / "never_harm.txt") + golden))


def misspellings() -> list[tuple[str, str]]:
    rows = [line.split("\t") for line in data_lines(GOLDEN / "misspellings.tsv")[1:]]
    return [(row[0], row[1]) for row in rows]


ENTITY_SET = "entities.tsv"
BRAND_TRAPS = "entity_brand_traps.tsv"


def entity_labels(name: str = ENTITY_SET) -> list[tuple[str, set[tuple[str, str]]]]:
    rows = []
    for line in data_lines(GOLDEN / name):
        if line.startswith("query\t"):
            continue
        query, *cells = line.split("\t")
        cells += [""] * (len(ENTITY_KINDS) - len(cells))
        labels = {
            (k, normalize(v))
            for k, cell in zip(ENTITY_KINDS, cells, strict=True)
            for v in cell.split("|")
            if v
        }
        rows.append((query, labels))
    return rows


def touched(understood: UnderstoodQuery) -> bool:
    """Rewritten (the search used other words) or questioned (a did_you_mean)."""
    return understood.corrected is not None or understood.did_you_mean is not None


def searched_as(understood: UnderstoodQuery) -> set[str]:
    """Every reading the search uses or offers: the correction, the suggestion, the expansion."""
    # getattr: the same sets measure older checkouts, whose understanding had no expansions
    readings = (understood.corrected, understood.did_you_mean, getattr(understood, "expanded", None))
    return {t for t in readings if t}


class Rate(msgspec.Struct):
    count: int
    total: int
    rate: float
    examples: list[str]


def _rate(items: list[str], total: int, examples: int = 20) -> Rate:
    return Rate(
        count=len(items),
        total=total,
        rate=round(len(items) / total, 4) if total else 0.0,
        examples=items[:examples],
    )


class SpellingRates(msgspec.Struct):
    never_harm_changed: Rate
    wands_touched: Rate
    wands_typos_fixed: Rate
    misspellings_fixed: Rate
    misspellings_applied: Rate


def spelling_rates(understand: Understand) -> SpellingRates:
    never = never_harm_queries()
    clean = wands_clean()
    typos = wands_typos()
    rows = misspellings()
    fixed: list[str] = []
    applied: list[str] = []
    missed: list[str] = []
    for typed, meant in rows:
        understood = understand(typed)
        if understood.corrected == as_searched(meant):
            applied.append(typed)
        if as_searched(meant) in (understood.corrected, understood.did_you_mean):
            fixed.append(typed)
        else:
            missed.append(
                f"{typed} -> {understood.corrected or understood.did_you_mean or '(kept)'} (meant {meant})"
            )
    return SpellingRates(
        never_harm_changed=_rate([q for q in never if touched(understand(q))], len(never)),
        wands_touched=_rate([q for q in clean if touched(understand(q))], len(clean)),
        wands_typos_fixed=_rate(
            [typed for typed, meant in typos if as_searched(meant) in searched_as(understand(typed))],
            len(typos),
        ),
        misspellings_fixed=Rate(len(fixed), len(rows), round(len(fixed) / len(rows), 4), missed[:20]),
        misspellings_applied=_rate(applied, len(rows), examples=0),
    )


class KindScores(msgspec.Struct):
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float


class EntityScores(msgspec.Struct):
    overall: KindScores
    by_kind: dict[str, KindScores]
    worst: list[str]


def _scores(tp: int, fp: int, fn: int) -> KindScores:
    return KindScores(
        tp, fp, fn, round(tp / (tp + fp), 4) if tp + fp else 1.0, round(tp / (tp + fn), 4) if tp + fn else 1.0
    )


def entity_scores(understand: Understand, name: str = ENTITY_SET) -> EntityScores:
    counts = {kind: [0, 0, 0] for kind in ENTITY_KINDS}
    worst: list[tuple[int, str]] = []
    for query, expected in entity_labels(name):
        entities = understand(query).entities
        found = {(k, normalize(v)) for k in ENTITY_KINDS for v in getattr(entities, k, ())}
        for kind, tally in counts.items():
            tally[0] += len({p for p in found & expected if p[0] == kind})
            tally[1] += len({p for p in found - expected if p[0] == kind})
            tally[2] += len({p for p in expected - found if p[0] == kind})
        if found != expected:
            extra = ", ".join(f"{k}={v}" for k, v in sorted(found - expected))
            lacking = ", ".join(f"{k}={v}" for k, v in sorted(expected - found))
            worst.append((len(found ^ expected), f"{query}: found [{extra}] missed [{lacking}]"))
    tp, fp, fn = (sum(t[i] for t in counts.values()) for i in range(3))
    return EntityScores(
        overall=_scores(tp, fp, fn),
        by_kind={kind: _scores(*tally) for kind, tally in counts.items()},
        worst=[text for _, text in sorted(worst, key=lambda item: -item[0])[:20]],
    )

"""`make synonyms-suggest`: candidate synonym pairs mined from behaviour and meaning, for people to
review. Nothing is applied: the review file (`var/synonyms-suggested.txt` by default, outside
synonyms/) holds each pair as a rule line in the synonym format with its evidence and the impact
preview of `synonyms-apply` above it; a merchandiser accepts a pair by moving its line into a file of
synonyms/ and running `make synonyms-apply` (docs/synonyms.md#suggested-synonyms).

- **Behaviour**: two logged queries that differ by one word each ("couch" and "sofa", "grey couch"
  and "grey sofa"), each with at least `MIN_SEARCHES` engaged searches (a click, add-to-cart or
  purchase followed), whose engaged products overlap (Jaccard of the products >= `MIN_OVERLAP`).
- **Meaning**: a word shoppers type that the catalog's titles never use, whose embedding (the served
  model) is close to a catalog title word (cosine >= `MIN_COSINE`).
Pairs already in one rule, and words with the same stem, are left out.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec
import numpy as np

from pipelines.synonyms.apply import impact
from pipelines.synonyms.rules import SynonymRule
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.text import normalize, tokens
from quarry.ubi import (
    ENGAGED_ACTIONS,
    LOGGED_TEXT_FIELDS,
    QUERY_ID_CHUNK,
    SYNTHETIC_USER_PREFIX,
    UBI_EVENTS,
    UBI_QUERIES,
    event_object_id,
    searched_text,
)
from quarry.understanding.lexicon import word_forms

log = logging.getLogger("pipelines.synonyms.suggest")

MIN_SEARCHES = 3
MIN_OVERLAP = 0.3
MIN_COSINE = 0.75
MAX_EVENTS = 10_000  # the result window: the most recent engaged events
MAX_CANDIDATES = 50


class Candidate(msgspec.Struct, frozen=True):
    first: str
    second: str
    source: str  # behaviour | meaning
    score: float
    evidence: str


def engaged_products(engine: SearchEngine, max_events: int = MAX_EVENTS) -> dict[str, Counter[str]]:
    """Query text -> the products shoppers engaged with after searching it (the corrected text for a
    corrected search), from the most recent engaged events."""
    try:
        events = engine.search(
            UBI_EVENTS,
            {
                "size": max_events,
                "_source": ["query_id", "object_id", "event_attributes.object.object_id"],
                "sort": [{"timestamp": "desc"}],
                "query": {
                    "bool": {
                        "filter": [
                            {"terms": {"action_name": list(ENGAGED_ACTIONS)}},
                            {"exists": {"field": "query_id"}},
                        ],
                        "must_not": [{"prefix": {"user_id": SYNTHETIC_USER_PREFIX}}],
                    }
                },
            },
        )
    except SearchEngineError as exc:  # no logs yet (a fresh cluster): nothing to mine, said out loud
        log.warning("engaged events unavailable; no behaviour pairs", extra={"error": str(exc)})
        return {}
    by_query_id: dict[str, list[str]] = {}
    for hit in events.hits:
        query_id, product = hit.source.get("query_id"), event_object_id(hit.source)
        if query_id and product:
            by_query_id.setdefault(str(query_id), []).append(str(product))
    ids = list(by_query_id)
    engaged: dict[str, Counter[str]] = {}
    for start in range(0, len(ids), QUERY_ID_CHUNK):
        chunk = ids[start : start + QUERY_ID_CHUNK]
        found = engine.search(
            UBI_QUERIES,
            {
                "size": len(chunk),
                "_source": LOGGED_TEXT_FIELDS,
                "query": {"terms": {"query_id": chunk}},
            },
        )
        for hit in found.hits:
            text = " ".join(tokens(normalize(searched_text(hit.source))))
            if text:
                engaged.setdefault(text, Counter()).update(
                    by_query_id.get(str(hit.source.get("query_id")), [])
                )
    return engaged


def _same_word(first: str, second: str) -> bool:
    """One word in two forms ("case" and "cases", "colour" and "color"): no synonym."""
    return _stem(first) == _stem(second) or second in word_forms(first) or first in word_forms(second)


def _stem(word: str) -> str:
    for ending in ("ies", "es", "s"):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)]
    return word


def behaviour_pairs(engaged: dict[str, Counter[str]], searches: dict[str, int]) -> list[Candidate]:
    """`searches`: engaged searches per query text."""
    queries = [q for q in engaged if searches.get(q, 0) >= MIN_SEARCHES]
    found: dict[tuple[str, str], Candidate] = {}
    for a, b in itertools.combinations(sorted(queries), 2):
        words_a, words_b = a.split(), b.split()
        if len(words_a) != len(words_b):
            continue
        differ = [(x, y) for x, y in zip(words_a, words_b, strict=True) if x != y]
        if len(differ) != 1:
            continue
        first, second = sorted(differ[0])
        if _same_word(first, second):
            continue
        products_a, products_b = set(engaged[a]), set(engaged[b])
        overlap = len(products_a & products_b) / len(products_a | products_b)
        if overlap >= MIN_OVERLAP and (
            overlap > found.get((first, second), Candidate("", "", "", 0, "")).score
        ):
            found[(first, second)] = Candidate(
                first,
                second,
                "behaviour",
                round(overlap, 3),
                f"'{a}' ({searches[a]} engaged searches) and '{b}' ({searches[b]}): "
                f"{len(products_a & products_b)} of {len(products_a | products_b)} engaged products shared",
            )
    return sorted(found.values(), key=lambda c: -c.score)


def meaning_pairs(
    shopper_words: Iterable[str],
    catalog_words: Iterable[str],
    encode: Callable[[list[str]], np.ndarray],
    is_word: Callable[[str], bool] = lambda word: True,
) -> list[Candidate]:
    """Shopper words the titles never use, against title words, by cosine of their embeddings.
    `is_word`: typos ("blendr") are the spelling corrector's, not synonyms."""
    catalog = sorted({w for w in catalog_words if w.isalpha() and len(w) > 2})
    shopper = sorted({w for w in shopper_words if w.isalpha() and len(w) > 2 and is_word(w)} - set(catalog))
    if not catalog or not shopper:
        return []
    left, right = encode(shopper), encode(catalog)
    left = left / np.linalg.norm(left, axis=1, keepdims=True)
    right = right / np.linalg.norm(right, axis=1, keepdims=True)
    cosine = left @ right.T
    out = []
    for i, word in enumerate(shopper):
        j = int(np.argmax(cosine[i]))
        if cosine[i, j] >= MIN_COSINE and not _same_word(word, catalog[j]):
            first, second = sorted((word, catalog[j]))
            out.append(
                Candidate(
                    first,
                    second,
                    "meaning",
                    round(float(cosine[i, j]), 3),
                    f"'{word}' is typed by shoppers, titles never use it; nearest title word "
                    f"'{catalog[j]}' at cosine {cosine[i, j]:.2f}",
                )
            )
    return sorted(out, key=lambda c: -c.score)


def new_pairs(candidates: list[Candidate], rules: list[SynonymRule]) -> list[Candidate]:
    """Candidates no rule already joins, one per pair, best first, at most `MAX_CANDIDATES`."""
    joined = {frozenset(w for term in rule.terms for w in term.split()) for rule in rules}
    seen: set[tuple[str, str]] = set()
    out = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        pair = (candidate.first, candidate.second)
        if pair in seen or any({candidate.first, candidate.second} <= words for words in joined):
            continue
        seen.add(pair)
        out.append(candidate)
    return out[:MAX_CANDIDATES]


def review_file(candidates: list[Candidate], previews: dict[str, str]) -> str:
    lines = [
        "# Suggested synonyms (make synonyms-suggest): nothing here is applied.",
        "# To accept a pair, move its rule line into a file of synonyms/, then run make synonyms-check",
        "# and make synonyms-apply. Evidence and the impact preview (BM25 top 10 with all suggested rules",
        "# in a dry-run index, against the live one) are above each line.",
        "",
    ]
    for candidate in candidates:
        lines.append(f"# {candidate.source}, score {candidate.score}: {candidate.evidence}")
        for word in (candidate.first, candidate.second):
            if word in previews:
                lines.append(f"#   preview '{word}': {previews[word]}")
        lines += [f"{candidate.first}, {candidate.second}", ""]
    return "\n".join(lines)


def previews(engine: SearchEngine, live_index: str, preview_index: str, words: list[str]) -> dict[str, str]:
    return {
        row.query: f"hits {row.hits_before} -> {row.hits_after}, top-10 overlap {row.overlap_at_10}/10"
        for row in impact(engine, live_index, preview_index, words)
    }


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")

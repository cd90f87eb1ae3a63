"""`make vocabulary`: build the query-understanding artifact (spelling dictionary and entity
vocabularies) from the live catalog, and publish it to the model store.

Titles, brands, categories and attribute values are weighted above descriptions: they are what
shoppers type. Brand tokens and model numbers are protected so the corrector never "fixes" them.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import itertools
import math
from collections import Counter
from typing import Any

import msgspec
from tqdm import tqdm

from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine
from quarry.text import normalize, tokens
from quarry.ubi import successful_queries
from quarry.vocabulary import (
    ARTIFACT,
    BIGRAMS_FILE,
    DICTIONARY_FILE,
    QUERY_WORDS,
    SUGGESTIONS_FILE,
    VOCABULARY_FILE,
    Suggestion,
    Vocabulary,
    encode_bigrams,
    encode_dictionary,
)

SUGGESTED_QUERIES = 5000
FIELD_WEIGHTS = {"title": 5, "brand": 5, "category": 3, "attribute": 3, "description": 1}
MIN_TOKEN_LENGTH = 2


def _has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


def build_bigrams(documents: list[dict[str, Any]], min_count: int = 2) -> dict[tuple[str, str], int]:
    """Adjacent word pairs of titles: the context that tells "watter bottle" from "matter bottle"."""
    pairs: Counter[tuple[str, str]] = Counter()
    for doc in documents:
        words = [t for t in tokens(normalize(doc.get("title") or "")) if not _has_digit(t)]
        pairs.update(itertools.pairwise(words))
    return {pair: n for pair, n in pairs.items() if n >= min_count}


def build_from_documents(documents: list[dict[str, Any]]) -> tuple[dict[str, int], Vocabulary]:
    counts: Counter[str] = Counter()
    brands: set[str] = set()
    categories: set[str] = set()
    attributes: dict[str, set[str]] = {}
    protected: set[str] = set()
    models: set[str] = set()

    def count(text: str, weight: int) -> None:
        for token in tokens(normalize(text)):
            if len(token) >= MIN_TOKEN_LENGTH and not _has_digit(token):
                counts[token] += weight

    departments: dict[str, set[str]] = {}
    for doc in documents:
        count(doc.get("title") or "", FIELD_WEIGHTS["title"])
        department = doc.get("category_lvl1")
        if department:
            for name in (doc.get("brand"), doc.get("category_lvl2"), doc.get("category_lvl3"), department):
                if name:
                    departments.setdefault(name, set()).add(department)
        count(doc.get("description") or "", FIELD_WEIGHTS["description"])
        brand = doc.get("brand") or ""
        if brand:
            brands.add(brand)
            count(brand, FIELD_WEIGHTS["brand"])
            protected.update(tokens(normalize(brand)))
        for level in ("category_lvl1", "category_lvl2", "category_lvl3"):
            if doc.get(level):
                categories.add(doc[level])
                count(doc[level], FIELD_WEIGHTS["category"])
        for key, value in (doc.get("attributes") or {}).items():
            attributes.setdefault(key, set()).add(normalize(str(value)))
            count(str(value), FIELD_WEIGHTS["attribute"])
        title_tokens = tokens(normalize(doc.get("title") or ""))
        protected.update(t for t in title_tokens if _has_digit(t))
        raw_words = (doc.get("title") or "").split()[1:]  # the first word is capitalized anyway
        models.update(
            normalize(w) for w in raw_words if w[:1].isupper() or (w[:1].islower() and w[1:2].isupper())
        )
    top = max(counts.values(), default=1)
    for word in QUERY_WORDS:  # shopper words get a middling frequency: known, but never a strong pull
        counts[word] = max(counts[word], top // 100 + 1)
    vocabulary = Vocabulary(
        brands=sorted(brands),
        categories=sorted(categories),
        attributes={key: sorted(values) for key, values in sorted(attributes.items())},
        protected=sorted(protected),
        departments={name: sorted(found) for name, found in sorted(departments.items())},
        models=sorted(
            m for m in models - {normalize(b) for b in brands} if len(m) >= 3 and not _has_digit(m)
        ),
    )
    return dict(counts), vocabulary


def build_suggestions(documents: list[dict[str, Any]], queries: dict[str, int]) -> list[Suggestion]:
    """Titles weighted by popularity, brands and categories by product count, and past queries that
    found something by how often they were asked."""
    titles: dict[str, float] = {}
    entities: Counter[tuple[str, str]] = Counter()
    for doc in documents:
        title = doc.get("title") or ""
        if title:
            titles[title] = max(titles.get(title, 0.0), math.log1p(float(doc.get("popularity_score") or 0.0)))
        if doc.get("brand"):
            entities[(doc["brand"], "brand")] += 1
        for level in ("category_lvl1", "category_lvl2", "category_lvl3"):
            if doc.get(level):
                entities[(doc[level], "category")] += 1
    suggestions = [Suggestion(text, "title", round(weight, 3)) for text, weight in titles.items()]
    # Brands, categories and popular queries outrank single titles: they lead to many products.
    suggestions += [
        Suggestion(text, kind, round(10 + math.log1p(n), 3)) for (text, kind), n in entities.items()
    ]
    suggestions += [Suggestion(text, "query", round(12 + math.log1p(n), 3)) for text, n in queries.items()]
    return sorted(suggestions, key=lambda s: (-s.weight, s.text))


def build_and_publish(
    engine: SearchEngine, store: ArtifactStore, alias: str, ubi_engine: SearchEngine | None = None
) -> str:
    """`ubi_engine`: the cluster holding `ubi_queries` when it is not the search cluster."""
    live = engine.alias_targets(alias)
    documents = [
        hit.source for hit in tqdm(engine.scan(alias), desc="reading catalog", unit="doc", disable=None)
    ]
    counts, vocabulary = build_from_documents(documents)
    queries = successful_queries(ubi_engine or engine, SUGGESTED_QUERIES)
    suggestions = build_suggestions(documents, queries)
    metadata = {
        "data_window": {"catalog_index": live, "documents": len(documents), "logged_queries": len(queries)},
        "parameters": {"field_weights": FIELD_WEIGHTS, "min_token_length": MIN_TOKEN_LENGTH},
        "metrics": {
            "terms": len(counts),
            "brands": len(vocabulary.brands),
            "protected": len(vocabulary.protected),
            "suggestions": len(suggestions),
        },
        "library_versions": {"symspellpy": importlib.metadata.version("symspellpy")},
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return store.publish(
        ARTIFACT,
        {
            DICTIONARY_FILE: encode_dictionary(counts),
            BIGRAMS_FILE: encode_bigrams(build_bigrams(documents)),
            VOCABULARY_FILE: msgspec.json.encode(vocabulary),
            SUGGESTIONS_FILE: msgspec.json.encode(suggestions),
        },
        metadata,
    )

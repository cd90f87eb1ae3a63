"""`make vocabulary`: build the query-understanding artifact (spelling dictionary and entity
vocabularies) from the live catalog, and publish it to the model store.

Titles, brands, categories and attribute values are weighted above descriptions: they are what
shoppers type. Brand tokens and model numbers are protected so the corrector never "fixes" them.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections import Counter
from typing import Any

import msgspec
from tqdm import tqdm

from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine
from quarry.text import normalize, tokens
from quarry.vocabulary import (
    ARTIFACT,
    DICTIONARY_FILE,
    QUERY_WORDS,
    VOCABULARY_FILE,
    Vocabulary,
    encode_dictionary,
)

FIELD_WEIGHTS = {"title": 5, "brand": 5, "category": 3, "attribute": 3, "description": 1}
MIN_TOKEN_LENGTH = 2


def _has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


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


def build_and_publish(engine: SearchEngine, store: ArtifactStore, alias: str) -> str:
    live = engine.alias_targets(alias)
    documents = [
        hit.source for hit in tqdm(engine.scan(alias), desc="reading catalog", unit="doc", disable=None)
    ]
    counts, vocabulary = build_from_documents(documents)
    metadata = {
        "data_window": {"catalog_index": live, "documents": len(documents)},
        "parameters": {"field_weights": FIELD_WEIGHTS, "min_token_length": MIN_TOKEN_LENGTH},
        "metrics": {
            "terms": len(counts),
            "brands": len(vocabulary.brands),
            "protected": len(vocabulary.protected),
        },
        "library_versions": {"symspellpy": importlib.metadata.version("symspellpy")},
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return store.publish(
        ARTIFACT,
        {DICTIONARY_FILE: encode_dictionary(counts), VOCABULARY_FILE: msgspec.json.encode(vocabulary)},
        metadata,
    )

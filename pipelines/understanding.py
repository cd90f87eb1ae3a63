"""`make vocabulary`: build the query-understanding artifact (spelling dictionary and entity
vocabularies) from the live catalog, and publish it to the model store.

Titles, brands, categories and attribute values are weighted above descriptions: they are what
shoppers type. Brand tokens and model numbers are protected so the corrector never "fixes" them.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import importlib.resources
import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import wordfreq
from tqdm import tqdm

from pipelines.bench.report import commit
from pipelines.entity_vocabulary import category_attributes, mine_category_terms, mine_series, title_words
from pipelines.spelling_rules import SpellingRuleIssue, load_spelling_rules
from pipelines.synonyms.rules import SynonymRule, load_rules
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine
from quarry.text import normalize, tokens
from quarry.ubi import clicked_queries, successful_queries
from quarry.vocabulary import (
    ARTIFACT,
    BIGRAMS_FILE,
    DICTIONARY_FILE,
    ENGLISH_BIGRAMS_FILE,
    ENGLISH_FILE,
    QUERY_BIGRAMS_FILE,
    QUERY_TERMS_FILE,
    QUERY_WORDS,
    SPELLING_RULES_FILE,
    SUGGESTIONS_FILE,
    VOCABULARY_FILE,
    WEB_WORDS_FILE,
    Suggestion,
    Vocabulary,
    encode_bigrams,
    encode_dictionary,
)

SYNONYMS_DIR = Path(__file__).resolve().parent.parent / "synonyms"
SUGGESTED_QUERIES = 5000
CLICKED_QUERIES = 20_000
# symspellpy's English lexicon: word and word-pair frequencies from Google Books n-grams, as shipped.
ENGLISH_WORDS_RESOURCE = "frequency_dictionary_en_82_765.txt"
ENGLISH_PAIRS_RESOURCE = "frequency_bigramdictionary_en_243_342.txt"
# wordfreq's Zipf scale: log10 of occurrences per billion words. 3 is once per million words.
KNOWN_ZIPF = 3.0
RARE_ZIPF = 1.0


class SpellingRulesError(ValueError):
    """synonyms/spelling/ has lines that cannot be read; nothing is published."""

    def __init__(self, issues: list[SpellingRuleIssue]) -> None:
        super().__init__("; ".join(str(issue) for issue in issues))
        self.issues = issues


def english_lexicon() -> tuple[dict[str, int], dict[tuple[str, str], int], dict[str, int]]:
    """General English: symspellpy's word and word-pair counts (Google Books) joined by the words of
    wordfreq's large English list (web, subtitles, news, books) that are frequent enough to be words
    for sure (Zipf >= `KNOWN_ZIPF`: "jewelry", "tv", "xbox", which the books lexicon lacks), on the
    books counts' scale; and wordfreq's rarer words (`RARE_ZIPF` to `KNOWN_ZIPF`, per billion), whose
    frequency is how likely a rare word typed as it is was meant (brand names and misspellings both)."""
    package = importlib.resources.files("symspellpy")
    words: dict[str, int] = {}
    for line in package.joinpath(ENGLISH_WORDS_RESOURCE).read_text(encoding="utf-8").splitlines():
        word, _, count = line.partition(" ")
        if word and count:
            words[word] = int(count)
    total = sum(words.values())
    rare: dict[str, int] = {}
    for word, frequency in wordfreq.get_frequency_dict("en", wordlist="large").items():
        if not word.isascii() or tokens(word) != [word]:
            continue
        if frequency >= 10 ** (KNOWN_ZIPF - 9):
            words[word] = max(words.get(word, 0), round(frequency * total))
        elif frequency >= 10 ** (RARE_ZIPF - 9):
            rare[word] = round(frequency * 1e9)
    pairs: dict[tuple[str, str], int] = {}
    for line in package.joinpath(ENGLISH_PAIRS_RESOURCE).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3:
            pairs[(parts[0], parts[1])] = int(parts[2])
    return words, pairs, rare


def query_terms(queries: dict[str, int]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Words and adjacent word pairs of clicked queries, each counted once per engaged search."""
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for query, searches in queries.items():
        found = [t for t in tokens(normalize(query)) if not _has_digit(t)]
        for word in found:
            words[word] += searches
        for pair in itertools.pairwise(found):
            pairs[pair] += searches
    return dict(words), dict(pairs)


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
    series = mine_series(documents, brands)
    series_words = {w for key in series for w in key.split()}
    not_terms = (
        {t for b in brands for t in tokens(normalize(b))}
        | {v for values in attributes.values() for value in values for v in tokens(value)}
        | series_words
    )
    rules = load_rules(SYNONYMS_DIR)[0]
    vocabulary = Vocabulary(
        synonym_words=sorted({w for rule in rules for term in rule.terms for w in tokens(normalize(term))}),
        synonyms=synonym_meanings(rules),
        series=series,
        category_terms=mine_category_terms(documents, not_terms),
        category_attributes=category_attributes(documents),
        title_words=title_words(documents),
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


def synonym_meanings(rules: list[SynonymRule]) -> dict[str, list[str]]:
    """What each synonym term means, as the index reads the rules: every other term of an
    equivalence, the right side of an explicit mapping."""
    meanings: dict[str, set[str]] = {}
    for rule in rules:
        terms = [" ".join(tokens(normalize(t))) for t in rule.left]
        targets = [" ".join(tokens(normalize(t))) for t in rule.right] if rule.right else terms
        for term in terms:
            meanings.setdefault(term, set()).update(t for t in targets if t != term)
    return {term: sorted(found) for term, found in sorted(meanings.items()) if found}


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
    engine: SearchEngine,
    store: ArtifactStore,
    alias: str,
    ubi_engine: SearchEngine | None = None,
    activate: bool = True,
) -> str:
    """`ubi_engine`: the cluster holding `ubi_queries` when it is not the search cluster.
    `activate=False`: published for the registry (a candidate), not served."""
    live = engine.alias_targets(alias)
    documents = [
        hit.source for hit in tqdm(engine.scan(alias), desc="reading catalog", unit="doc", disable=None)
    ]
    rules, issues = load_spelling_rules()
    if issues:
        raise SpellingRulesError(issues)
    counts, vocabulary = build_from_documents(documents)
    queries = successful_queries(ubi_engine or engine, SUGGESTED_QUERIES)
    clicked = clicked_queries(ubi_engine or engine, CLICKED_QUERIES)
    clicked_words, clicked_pairs = query_terms(clicked)
    english_words, english_pairs, web_words = english_lexicon()
    suggestions = build_suggestions(documents, queries)
    metadata = {
        "data_window": {
            "catalog_index": live,
            "documents": len(documents),
            "logged_queries": len(queries),
            "clicked_queries": len(clicked),
        },
        "parameters": {
            "field_weights": FIELD_WEIGHTS,
            "min_token_length": MIN_TOKEN_LENGTH,
            "english_lexicon": [ENGLISH_WORDS_RESOURCE, ENGLISH_PAIRS_RESOURCE, "wordfreq en large"],
            "known_zipf": KNOWN_ZIPF,
            "rare_zipf": RARE_ZIPF,
        },
        "metrics": {
            "terms": len(counts),
            "english_terms": len(english_words),
            "rare_web_terms": len(web_words),
            "query_terms": len(clicked_words),
            "brands": len(vocabulary.brands),
            "protected": len(vocabulary.protected) + len(rules.protected),
            "forced_corrections": len(rules.corrections),
            "suggestions": len(suggestions),
        },
        "library_versions": {
            "symspellpy": importlib.metadata.version("symspellpy"),
            "wordfreq": importlib.metadata.version("wordfreq"),
        },
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "input_snapshot": {"products_alias": alias, "catalog_index": live, "queries": "ubi_queries"},
        "code_commit": commit(),
    }
    return store.publish(
        ARTIFACT,
        {
            DICTIONARY_FILE: encode_dictionary(counts),
            BIGRAMS_FILE: encode_bigrams(build_bigrams(documents)),
            ENGLISH_FILE: encode_dictionary(english_words),
            ENGLISH_BIGRAMS_FILE: encode_bigrams(english_pairs),
            WEB_WORDS_FILE: encode_dictionary(web_words),
            QUERY_TERMS_FILE: encode_dictionary(clicked_words),
            QUERY_BIGRAMS_FILE: encode_bigrams(clicked_pairs),
            SPELLING_RULES_FILE: msgspec.json.encode(rules),
            VOCABULARY_FILE: msgspec.json.encode(vocabulary),
            SUGGESTIONS_FILE: msgspec.json.encode(suggestions),
        },
        metadata,
        activate=activate,
    )

"""The query-understanding artifact: what `pipelines` builds from the catalog and the API loads.

One versioned artifact (`query-understanding`) holds the spelling dictionary (term -> frequency) and
the catalog's own vocabularies (brands, categories, attribute values) used for entity extraction.
"""

from __future__ import annotations

import msgspec

ARTIFACT = "query-understanding"
DICTIONARY_FILE = "dictionary.tsv"
VOCABULARY_FILE = "vocabulary.json"
SUGGESTIONS_FILE = "suggestions.json"
BIGRAMS_FILE = "bigrams.tsv"
# The general English lexicon (symspellpy's word and word-pair frequencies), copied into each artifact
# version so that an upgrade of the package never changes a served version's behaviour.
ENGLISH_FILE = "english.tsv"
ENGLISH_BIGRAMS_FILE = "english_bigrams.tsv"
# Rare words of the web (wordfreq's Zipf 1-3), per billion words: how likely a rare word was meant.
WEB_WORDS_FILE = "web_words.tsv"
# Words and word pairs of successful past queries (logged searches followed by a click).
QUERY_TERMS_FILE = "query_terms.tsv"
QUERY_BIGRAMS_FILE = "query_bigrams.tsv"
SPELLING_RULES_FILE = "spelling_rules.json"
ENTITY_ATTRIBUTES = ("color", "size", "material")
# Intent words (quarry/understanding/classify.py reads them) and other words shoppers type that catalog
# text rarely contains; without them in the dictionary the corrector "fixes" best -> west.
INFORMATIONAL_WORDS = frozenset(
    ["best", "how", "which", "vs", "versus", "review", "reviews", "compare", "top", "guide", "what", "why"]
)
TRANSACTIONAL_WORDS = frozenset(
    [
        "buy",
        "cheap",
        "cheapest",
        "deal",
        "deals",
        "sale",
        "discount",
        "price",
        "prices",
        "under",
        "affordable",
        "bargain",
        "clearance",
        "coupon",
        "order",
        "offer",
    ]
)
# Words that join the parts of a query rather than describe a product: the word before one is the head
# of its phrase ("fountains with brick look"), not a brand or line name in front of a product.
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "without",
    ]
)
QUERY_WORDS = sorted(
    INFORMATIONAL_WORDS
    | TRANSACTIONAL_WORDS
    | set(
        [
            "over",
            "gift",
            "gifts",
            "for",
            "with",
            "without",
            "and",
            "or",
            "the",
            "a",
            "an",
            "men",
            "mens",
            "women",
            "womens",
            "kids",
            "kid",
            "boys",
            "girls",
            "baby",
            "new",
            "used",
            "near",
            "me",
        ]
    )
)


class SeriesName(msgspec.Struct, frozen=True, array_like=True):
    name: str
    brand: str


class Vocabulary(msgspec.Struct):
    brands: list[str]
    """Brand names as the catalog writes them."""
    categories: list[str]
    """Category names of every level."""
    attributes: dict[str, list[str]]
    """Attribute key -> values (lower-cased), for every attribute key in the catalog."""
    protected: list[str]
    """Tokens the spell corrector must never change (brand tokens, model numbers)."""
    departments: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Brand or category name -> the top-level categories it appears in (to tell Apple from apples)."""
    models: list[str] = msgspec.field(default_factory=list)
    """Product-line words (capitalized inside titles: iphone, galaxy, macbook), for navigational intent."""
    series: dict[str, SeriesName] = msgspec.field(default_factory=dict)
    """Normalized product-line name ("iphone 15 pro", "star wars") -> how titles write it, and its brand."""
    category_terms: dict[str, str] = msgspec.field(default_factory=dict)
    """Normalized product term of titles ("blender", "coffee table") -> the leaf category it names."""
    category_attributes: dict[str, dict[str, list[str]]] = msgspec.field(default_factory=dict)
    """Category name (any level) -> attribute key -> the values its products have."""
    synonym_words: list[str] = msgspec.field(default_factory=list)
    """Words of the synonym rules (synonyms/*.txt): shopper words the index understands."""
    title_words: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Brand or category name (any level) -> the words of its products' titles."""
    synonyms: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Normalized synonym term (synonyms/*.txt) -> the terms it means: "couch" -> "sofa", "grey" -> "gray"."""


class SpellingRules(msgspec.Struct, frozen=True):
    """A merchandiser's overrides of the spelling corrector (synonyms/spelling/*.txt)."""

    protected: tuple[str, ...] = ()
    """Words never corrected or questioned, whatever the lexicon says."""
    corrections: dict[str, str] = msgspec.field(default_factory=dict)
    """Normalized word or phrase (up to three words) -> what it is always corrected to."""


class Suggestion(msgspec.Struct, array_like=True):
    """An autocomplete candidate: display text, its kind, and a weight (higher first)."""

    text: str
    kind: str  # title | brand | category | query
    weight: float


def encode_dictionary(counts: dict[str, int]) -> bytes:
    lines = (f"{term}\t{count}" for term, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return ("\n".join(lines) + "\n").encode()


def encode_bigrams(counts: dict[tuple[str, str], int]) -> bytes:
    return encode_dictionary({f"{a} {b}": n for (a, b), n in counts.items()})


def decode_bigrams(data: bytes) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for pair, count in decode_dictionary(data).items():
        first, _, second = pair.partition(" ")
        out[(first, second)] = count
    return out


def decode_dictionary(data: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in data.decode().splitlines():
        if line:
            term, _, count = line.partition("\t")
            counts[term] = int(count)
    return counts

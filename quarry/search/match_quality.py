"""An honest match quality: `good`, `partial` (some of the query's meaning is not matched) or `none`
(nothing this shop sells matches; whatever is shown is related items, not matches).

Two readings, the better one wins (docs/query-understanding.md#match-quality):
- lexical: the query's content words (not function words, shopper words like "cheap" or "mens", or
  numbers) that the catalog's vocabulary has (title words, brands, attribute values, category names,
  synonym terms). All of them, with the keyword query matching as typed or corrected: good. The head
  of the query (its last content word, or the last before "for", "with" ...) known and at least half
  of the words: partial. Otherwise none ("lawn mower", "tea kettle": the head is no product we sell).
- semantic: the best cosine similarity of the query to a product: at least `good_similarity` good, at
  least `partial_similarity` partial ("keep my coffee hot on the commute" names no product, but its
  meaning finds tumblers).
A search without results is `none` whatever the readings.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from quarry.vocabulary import FUNCTION_WORDS, QUERY_WORDS

QUALITIES = ("none", "partial", "good")


class MatchSignals(msgspec.Struct, frozen=True):
    """What match quality was decided from, for relevance engineers (`explain`) and calibration."""

    content_words: int
    known_words: int
    head_known: bool
    keyword_match: str  # strict | corrected | relaxed | none
    best_similarity: float | None

    @property
    def shop_word_share(self) -> float:
        """The share of the content words the shop's vocabulary has (1 for a query without any)."""
        return self.known_words / self.content_words if self.content_words else 1.0


class MatchThresholds(msgspec.Struct, frozen=True):
    good_similarity: float = 0.70
    partial_similarity: float = 0.55


def content_words(words: list[str]) -> list[str]:
    return [
        w
        for w in words
        if w not in FUNCTION_WORDS and w not in QUERY_WORDS and not any(c.isdigit() for c in w)
    ]


# What follows these describes the product's use or its company, not the product: "tumbler for coffee".
HEAD_ENDS = frozenset(["for", "with", "without", "by", "to", "from", "in", "on"])


def head_word(words: list[str]) -> str | None:
    """The product a query names: the last content word before the first of `HEAD_ENDS`, if any
    ("black and white dress" is a dress, "a pair of socks" socks)."""
    cut = next((i for i, w in enumerate(words) if w in HEAD_ENDS and i > 0), len(words))
    content = content_words(words[:cut]) or content_words(words)
    return content[-1] if content else None


def known_share(words: list[str], known: Callable[[str], bool]) -> float:
    """The share of a query's content words that `known` has (1 for a query without any)."""
    content = content_words(words)
    return sum(1 for w in content if known(w)) / len(content) if content else 1.0


def signals(
    words: list[str],
    known: Callable[[str], bool],
    keyword_match: str,
    best_similarity: float | None,
) -> MatchSignals:
    content = content_words(words)
    head = head_word(words)
    return MatchSignals(
        content_words=len(content),
        known_words=sum(1 for w in content if known(w)),
        head_known=head is not None and known(head),
        keyword_match=keyword_match,
        best_similarity=None if best_similarity is None else round(best_similarity, 4),
    )


def quality(found: MatchSignals, results: int, thresholds: MatchThresholds) -> str:
    if results == 0:
        return "none"
    if found.content_words == 0:
        lexical = "good" if found.keyword_match in ("strict", "corrected") else "partial"
    elif found.known_words == found.content_words and found.keyword_match in ("strict", "corrected"):
        lexical = "good"
    elif found.head_known and 2 * found.known_words >= found.content_words and found.keyword_match != "none":
        lexical = "partial"
    else:
        lexical = "none"
    semantic = "none"
    if found.best_similarity is not None:
        if found.best_similarity >= thresholds.good_similarity:
            semantic = "good"
        elif found.best_similarity >= thresholds.partial_similarity:
            semantic = "partial"
    return max(lexical, semantic, key=QUALITIES.index)

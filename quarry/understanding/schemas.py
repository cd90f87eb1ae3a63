from __future__ import annotations

import msgspec


class Entities(msgspec.Struct, frozen=True, omit_defaults=False):
    """Immutable, like `UnderstoodQuery`: one instance is shared by every request for the same query
    (the understanding memo) and by the cached pages that embed it."""

    brand: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    color: tuple[str, ...] = ()
    size: tuple[str, ...] = ()
    material: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    """Product lines as titles write them ("iPhone 15 Pro", "Star Wars")."""


class WordFrequencies(msgspec.Struct, frozen=True):
    """A word's count in each source of the spelling lexicon: catalog (field-weighted), English
    (symspellpy's corpus counts) and successful past queries."""

    catalog: int
    english: int
    queries: int


class MeaningFit(msgspec.Struct, frozen=True):
    """How well the replacement and the word as typed fit the query's other words (`context`) in
    meaning: the cosine of their sentence-encoder vectors. The corrector multiplied the replacement's
    weight by exp(`MEANING_WEIGHT` x (replacement - typed))."""

    context: str
    replacement: float
    typed: float


class SpellingDecision(msgspec.Struct, frozen=True):
    """Why one word (or pair of words) was changed, questioned or left alone, for `explain`.

    `kind`: edit (letters changed), split (one word into two), join (two words into one), forced (a
    merchandiser's rule), context (a rare real word that its neighbours make unlikely).
    `action`: applied (the search used the replacement), suggested (did_you_mean only), fallback
    (tried only when the query as typed retrieves poorly), expanded (searched as well as the words
    typed).
    `context`: how many times likelier the neighbouring words make the replacement than the original
    reading (1 when there are no neighbours or no evidence).
    `meaning`: for an unknown word in a query of several words, how well the replacement and the word
    as typed fit the other words in meaning (null when the encoder was not asked)."""

    original: str
    replacement: str
    kind: str
    action: str
    confidence: float
    edit_distance: int
    original_frequency: WordFrequencies
    replacement_frequency: WordFrequencies
    context: float
    reason: str
    meaning: MeaningFit | None = None


class AppliedFilter(msgspec.Struct, frozen=True):
    """A constraint read from the query's words ("under 30", "5 star rated", "55 inch"): what a
    frontend shows as a removable chip. `field`: price, rating or attributes.<key>; `operator`: gte,
    lte or eq; `source`: the words it came from, no longer searched as text; `effect`: filter."""

    field: str
    operator: str
    value: float | str
    source: str
    effect: str = "filter"


class Correction(msgspec.Struct, frozen=True):
    """The spelling step's result. `applied`: the query the search uses (None when unchanged);
    `suggested`: a did_you_mean (None when there is nothing to question); `fallback`: what to try when
    the query as typed retrieves poorly; `expanded`: the applied query with other spellings of real
    words, searched as well; `confidence`: the least confident applied or suggested change."""

    applied: str | None = None
    suggested: str | None = None
    fallback: str | None = None
    expanded: str | None = None
    confidence: float = 1.0
    decisions: tuple[SpellingDecision, ...] = ()


class UnderstoodQuery(msgspec.Struct, frozen=True):
    original: str
    normalized: str
    corrected: str | None
    did_you_mean: str | None
    correction_confidence: float
    intent: str
    entities: Entities
    spelling: tuple[SpellingDecision, ...] = ()
    fallback: str | None = None
    expanded: str | None = None
    filters: tuple[AppliedFilter, ...] = ()
    searched: str | None = None
    """The words retrieval matches when numbers became filters ("dress" for "dress under 30")."""

    @property
    def effective(self) -> str:
        """The text retrieval uses: without the words that became filters, corrected when the
        correction was applied automatically."""
        return self.searched or self.corrected or self.normalized

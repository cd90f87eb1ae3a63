"""Spell correction with SymSpell over the catalog's own vocabulary.

Confidence of one token's correction: each candidate within the edit distance weighs
`frequency * exp(-3 * distance) * (1 + how often it follows the previous word or precedes the next
one in titles)`; confidence is the best candidate's share of the total weight,
times 0.85 when it is two edits away and times 0.8 for tokens of four letters or
fewer. A query's confidence is that of its least certain corrected token. Protected tokens
(brands, model numbers), short tokens and tokens already in the dictionary are never changed.
"""

from __future__ import annotations

import math

from symspellpy import SymSpell, Verbosity

from api.understanding.schemas import Correction

MIN_LENGTH = 3
TWO_EDIT_PENALTY = 0.85
SHORT_TOKEN = 4
SHORT_TOKEN_PENALTY = 0.8


class SpellCorrector:
    def __init__(
        self, counts: dict[str, int], protected: set[str], bigrams: dict[tuple[str, str], int] | None = None
    ) -> None:
        self._bigrams = bigrams or {}
        self._symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for term, count in counts.items():
            self._symspell.create_dictionary_entry(term, count)
        self._known = set(counts)
        self._protected = protected

    def _keep(self, token: str) -> bool:
        return (
            len(token) < MIN_LENGTH
            or token in self._known
            or token in self._protected
            or any(ch.isdigit() for ch in token)
        )

    def correct_token(
        self, token: str, before: str | None = None, after: str | None = None
    ) -> tuple[str, float]:
        """Correct one token; `before`/`after` are its neighbours, whose title bigrams favour a candidate."""
        if self._keep(token):
            return token, 1.0
        max_distance = 2 if len(token) > 5 else 1
        suggestions = self._symspell.lookup(token, Verbosity.ALL, max_edit_distance=max_distance)
        if not suggestions:
            return token, 1.0  # an unknown word: leave it to the search engine
        weights = [
            s.count
            * math.exp(-3 * s.distance)
            * (1 + self._bigrams.get((before or "", s.term), 0) + self._bigrams.get((s.term, after or ""), 0))
            for s in suggestions
        ]
        best = max(range(len(suggestions)), key=lambda i: (weights[i], -suggestions[i].distance))
        confidence = weights[best] / sum(weights)
        if suggestions[best].distance == 2:
            confidence *= TWO_EDIT_PENALTY
        if len(token) <= SHORT_TOKEN:
            confidence *= SHORT_TOKEN_PENALTY  # "bat" is one edit from bag, bar, bath, hat: suggest only
        return suggestions[best].term, confidence

    def correct(self, tokens: list[str]) -> Correction:
        corrected: list[str] = []
        confidence = 1.0
        for index, token in enumerate(tokens):
            before = corrected[-1] if corrected else None
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            replacement, token_confidence = self.correct_token(token, before, after)
            corrected.append(replacement)
            if replacement != token:
                confidence = min(confidence, token_confidence)
        if corrected == tokens:
            return Correction(text=None, confidence=1.0)
        return Correction(text=" ".join(corrected), confidence=round(confidence, 3))

"""Spelling correction that knows the language: a noisy-channel corrector over `Lexicon`.

The rules (docs/query-understanding.md#spelling):
- A known word (catalog, English lexicon, successful past queries, another form of one of those, a
  protected word, anything with a digit, anything shorter than three letters) is never changed
  silently. A very rare English word may at most be questioned when the query retrieves poorly and its
  neighbours strongly prefer a common word (`fallback`).
- An unknown word competes with its candidates: each edit within the edit distance, each word that
  sounds the same, and each split into two known words (a split is searched as well as the word
  typed, never a rewrite). A candidate's weight is its probability next to its neighbours times the
  chance of the typing error that turns it into what was typed (`typing_errors`). Keeping the word as
  typed weighs how often people write it (the web lexicon's rare words) and at least `KEEP_WEIGHT`,
  more for short words and for words in a brand's position ("kohler sink", "westling coffee table").
  A candidate's confidence is its share of all weights, the keep hypothesis included. It is applied at
  `apply_confidence` (a word the shop never uses also needs its neighbours' support), suggested at
  `suggest_confidence`, and otherwise only tried when the query retrieves poorly.
- In a query of several words, the likeliest readings of an unknown word and the word as typed are
  also weighed by how well they fit the other words in meaning (`Relatedness`, the sentence encoder
  semantic search uses): word-pair counts know "cool designs" but not "hamster cage".
- Two words the catalog writes as one ("back pack") are searched both ways (`expanded`) when the
  joined word is likelier than the pair: both words are real, so the query is not rewritten.
- Merchandisers override all of this: protected words are never touched, forced corrections always
  applied (`SpellingRules`, edited in synonyms/spelling/).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
from symspellpy import SymSpell, Verbosity
from symspellpy.editdistance import DistanceAlgorithm, EditDistance

from quarry.lru import Lru
from quarry.understanding.lexicon import Lexicon
from quarry.understanding.meaning import Relatedness
from quarry.understanding.phonetic import sound_key
from quarry.understanding.schemas import Correction, MeaningFit, SpellingDecision
from quarry.understanding.typing_errors import error_rate
from quarry.vocabulary import FUNCTION_WORDS, SpellingRules

MIN_LENGTH = 3
MIN_SPLIT_PART = 3
# The probability of the typing error per edit and per missing or extra space.
EDIT_ERROR = 0.01
SPACE_ERROR = 0.02
# Weight of "the word is right as typed" for an unknown word (on the scale of word probabilities).
# These four were calibrated together (docs/query-understanding.md#calibration) on the never-harm,
# misspelling and WANDS sets: harm first, then as many misspellings fixed as the harm limits allow.
KEEP_WEIGHT = 2e-9
# The keep weight grows by this factor for each letter a word is shorter than `LONG_WORD` (and
# shrinks by it for each letter longer): a long non-word one edit from a word is rarely a name.
LENGTH_FACTOR = 4.0
LONG_WORD = 7
NAME_POSITION_FACTOR = 10.0
HEAD_POSITION_FACTOR = 10.0
# A candidate that sounds like what was typed is this many times likelier (spelling by ear), and words
# that sound alike are candidates up to `MAX_SOUND_DISTANCE` edits away (at most `SOUND_CANDIDATES`
# of the likeliest per sound).
SOUND_BONUS = 3.0
MAX_SOUND_DISTANCE = 3
SOUND_CANDIDATES = 30
# Joined catalog words need this many catalog occurrences: a rare token is no evidence of spelling.
MIN_JOIN_COUNT = 20
# Below this confidence a reading is not worth even the zero-result retry ("kohler" -> "killer").
MIN_FALLBACK_CONFIDENCE = 0.1
# At most this many unknown words of one query are corrected; the rest are kept as typed (a query of
# 80 random tokens would otherwise hold a worker for tens of milliseconds).
MAX_UNKNOWN_WORDS = 8
# Context alternatives to a rare real word must be this many times likelier than it.
CONTEXT_MARGIN = 50.0
# A reading's weight is multiplied by exp(MEANING_WEIGHT x its cosine with the query's other words),
# the word as typed's too, for the `MEANING_CANDIDATES` heaviest readings (the rest weigh next to
# nothing). A cosine 0.1 closer to the context makes a reading e^2 = 7 times likelier. Calibrated with
# the four above: harm unchanged on every harm set, and the most misspellings fixed
# (docs/query-understanding.md#calibration).
MEANING_WEIGHT = 20.0
MEANING_CANDIDATES = 8


def _max_distance(token: str) -> int:
    return 2 if len(token) > 5 else 1


class _Candidate(msgspec.Struct, frozen=True):
    words: tuple[str, ...]
    kind: str
    distance: int
    weight: float
    context: float
    meaning: MeaningFit | None = None


@dataclass(frozen=True)
class SpellingIndex:
    """SymSpell's deletes and the words by sound: built from the word list alone, about 5 to 10 s of
    CPU for the demo lexicon's 85,000 words. `lock`: symspellpy's lookups reuse buffers of their
    own, so every user of one index takes its lock."""

    symspell: SymSpell
    sounds: dict[str, list[str]]
    lock: threading.Lock


# The newest index built in this process, by its words' digest: apps that load the same artifact in
# one process (the API's in-process tools, the tests' apps) build it once. One entry: a new version's
# index replaces the old one, which goes when the model that used it does.
_BUILT: Lru[str, SpellingIndex] = Lru(1)
_BUILDING = threading.Lock()


def spelling_index(words: Iterable[str]) -> SpellingIndex:
    spellable = sorted({w for w in words if len(w) >= MIN_LENGTH and w.isalpha()})
    digest = hashlib.sha256("\n".join(spellable).encode()).hexdigest()
    with _BUILDING:  # a second app loading the same words waits for the first build
        built = _BUILT.get(digest)
        if built is not None:
            return built
        symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        sounds: dict[str, list[str]] = {}
        for word in spellable:
            symspell.create_dictionary_entry(word, 1)
            sounds.setdefault(sound_key(word), []).append(word)
        built = SpellingIndex(symspell, sounds, threading.Lock())
        _BUILT.put(digest, built)
        return built


class SpellCorrector:
    def __init__(
        self,
        lexicon: Lexicon,
        protected: set[str],
        rules: SpellingRules | None = None,
        apply_confidence: float = 0.8,
        suggest_confidence: float = 0.5,
        relatedness: Relatedness | None = None,
    ) -> None:
        self.lexicon = lexicon
        self._relatedness = relatedness
        self._rules = rules or SpellingRules()
        self._forced_words = {tuple(k.split()): v for k, v in self._rules.corrections.items()}
        self._protected = protected | set(self._rules.protected)
        self._apply = apply_confidence
        self._suggest = suggest_confidence
        index = spelling_index(itertools.chain(lexicon.catalog, lexicon.english, lexicon.queries))
        self._lock = index.lock
        self._symspell = index.symspell
        self._distance = EditDistance(DistanceAlgorithm.DAMERAU_OSA)
        self._by_sound = {  # the order is this lexicon's: the same words may weigh differently
            key: sorted(words, key=lexicon.probability, reverse=True)[:SOUND_CANDIDATES]
            for key, words in index.sounds.items()
        }

    # --- what is left alone ------------------------------------------------------------------------

    def _fixed(self, token: str) -> bool:
        """Never a candidate for an edit: short, numeric, protected."""
        return len(token) < MIN_LENGTH or token in self._protected or any(ch.isdigit() for ch in token)

    def is_known(self, token: str) -> bool:
        return self._fixed(token) or self.lexicon.is_known(token)

    # --- scoring ---------------------------------------------------------------------------------

    def _context(self, words: tuple[str, ...], before: str | None, after: str | None) -> tuple[float, float]:
        """P(words | before) * P(after | last word) / P(after), and the same without the neighbours'
        pair evidence (the ratio of the two is the `context` factor shown in explain)."""
        lexicon = self.lexicon
        probability = lexicon.conditional(words[0], before) if before else lexicon.probability(words[0])
        plain = lexicon.probability(words[0])
        for previous, word in itertools.pairwise(words):
            step = lexicon.conditional(word, previous)
            probability *= step
            plain *= step
        if after:
            base = lexicon.probability(after)
            if base > 0:
                probability *= lexicon.conditional(after, words[-1]) / base
        return probability, plain

    def _candidates(self, token: str, before: str | None, after: str | None) -> list[_Candidate]:
        # A function word is no context in a query: English prose makes "done with", "college for" and
        # "and budget" common pairs, while a shopper's "dorne with camera" names a product before it.
        before = None if before in FUNCTION_WORDS else before
        after = None if after in FUNCTION_WORDS else after
        found: list[_Candidate] = []
        sound = sound_key(token)
        edits = {
            s.term: s.distance
            for s in self._symspell.lookup(token, Verbosity.ALL, max_edit_distance=_max_distance(token))
        }
        for word in self._by_sound.get(sound, []):
            if word not in edits:
                distance = self._distance.compare(token, word, MAX_SOUND_DISTANCE)
                if distance > 0:
                    edits[word] = distance
        for word, distance in edits.items():
            if word == token or word in FUNCTION_WORDS:
                continue  # "fram oil filter" is no "from oil filter": a typed function word never matters
            probability, plain = self._context((word,), before, after)
            channel = EDIT_ERROR**distance * error_rate(token, word, distance)
            if sound_key(word) == sound:
                channel *= SOUND_BONUS
            context = probability / plain if plain else 1.0
            found.append(_Candidate((word,), "edit", distance, probability * channel, context))
        for cut in range(MIN_SPLIT_PART, len(token) - MIN_SPLIT_PART + 1):
            first, second = token[:cut], token[cut:]
            if self.lexicon.in_sources(first) and self.lexicon.is_known(second):
                probability, plain = self._context((first, second), before, after)
                context = probability / plain if plain else 1.0
                found.append(_Candidate((first, second), "split", 1, probability * SPACE_ERROR, context))
        return found

    def _decision(
        self, original: str, candidate: _Candidate, confidence: float, action: str, reason: str
    ) -> SpellingDecision:
        replacement = " ".join(candidate.words)
        return SpellingDecision(
            original=original,
            replacement=replacement,
            kind=candidate.kind,
            action=action,
            confidence=round(confidence, 3),
            edit_distance=candidate.distance,
            original_frequency=self.lexicon.frequencies(original),
            replacement_frequency=self.lexicon.frequencies(replacement),
            context=round(candidate.context, 3),
            reason=reason,
            meaning=candidate.meaning,
        )

    def _shop_word(self, word: str) -> bool:
        return word in self.lexicon.catalog or word in self.lexicon.queries

    def _keep_weight(
        self, token: str, before: str | None, after: str | None, candidates: list[_Candidate]
    ) -> float:
        """How likely the word is right as typed: at least as often as people write it (the web
        lexicon's rare words), and more for short words and in a name's position. Short words sit
        one edit from many words by chance, so one edit away is weaker evidence of a typo; and in
        front of a known word an unknown one is
        usually a brand or product-line name ("westling coffee table", "moen shower head"), and so is
        one after "by" ("rug by allmodern"), unless a
        candidate forms a pair the lexicon knows ("runnig shoes")."""
        weight = max(
            KEEP_WEIGHT * LENGTH_FACTOR ** (LONG_WORD - len(token)), self.lexicon.typed_probability(token)
        )
        modifier = after is not None and after not in FUNCTION_WORDS and self.lexicon.is_known(after)
        if before == "by" or (modifier and not any(c.context > 1.0 for c in candidates)):
            weight *= NAME_POSITION_FACTOR
        elif after is None or after in FUNCTION_WORDS:
            weight /= HEAD_POSITION_FACTOR  # the head of the phrase names the product: "cool desins"
        return weight

    def _by_meaning(self, token: str, candidates: list[_Candidate], context: str) -> list[_Candidate]:
        """The heaviest readings, each weighed by how much better than the word as typed it fits the
        query's other words in meaning; typos keep little of a word's meaning ("cahe" next to
        "hamster"), names keep theirs, and a reading that fits weighs more ("cage", not "case")."""
        if self._relatedness is None or not context:
            return candidates
        ranked = sorted(candidates, key=lambda c: -c.weight)
        heaviest, rest = ranked[:MEANING_CANDIDATES], ranked[MEANING_CANDIDATES:]
        readings = [" ".join(c.words) for c in heaviest]
        typed, *fits = self._relatedness.similarities([token, *readings], context)
        weighed = [
            msgspec.structs.replace(
                c,
                weight=c.weight * math.exp(MEANING_WEIGHT * (fit - typed)),
                meaning=MeaningFit(context, round(fit, 3), round(typed, 3)),
            )
            for c, fit in zip(heaviest, fits, strict=True)
        ]
        return weighed + rest

    def _unknown(
        self, token: str, before: str | None, after: str | None, context: str = ""
    ) -> SpellingDecision | None:
        candidates = self._candidates(token, before, after)
        if not candidates:
            return None
        keep = self._keep_weight(token, before, after, candidates)
        candidates = self._by_meaning(token, candidates, context)
        total = keep + sum(c.weight for c in candidates)
        best = max(candidates, key=lambda c: (c.weight, -c.distance))
        confidence = best.weight / total
        if confidence < MIN_FALLBACK_CONFIDENCE:
            return None
        if best.kind == "split":
            # A compound the lexicon lacks ("countertop", "cardstock") or a missing space ("roomtables"):
            # both spellings mean the same thing, so the search looks for either and rewrites nothing.
            action = "expanded" if confidence >= self._suggest else "fallback"
        elif confidence >= self._apply and (best.context > 1.0 or self._shop_word(best.words[0])):
            action = "applied"  # a word the shop never uses needs its neighbours' support to replace one
        elif confidence >= self._suggest:
            action = "suggested"
        else:
            action = "fallback"
        reason = (
            f"'{token}' is in no lexicon; '{' '.join(best.words)}' carries {confidence:.0%} of the weight "
            f"of {len(candidates)} candidates and of keeping the word as typed"
        )
        if best.meaning is not None:
            reason += (
                f"; next to '{best.meaning.context}' its meaning fits {best.meaning.replacement:.2f} "
                f"(the word as typed {best.meaning.typed:.2f})"
            )
        return self._decision(token, best, confidence, action, reason)

    def _rare(self, token: str, before: str | None, after: str | None) -> SpellingDecision | None:
        """A real but very rare word ("loving" is not rare; "doning" would be unknown): an alternative
        only for the poor-retrieval fallback, when its neighbours make it `CONTEXT_MARGIN` times likelier."""
        if not self.lexicon.is_rare(token) or (before is None and after is None):
            return None
        own, _ = self._context((token,), before, after)
        if own <= 0:
            return None  # known only through another form ("spider-man"): no frequency to weigh
        best: _Candidate | None = None
        for suggestion in self._symspell.lookup(token, Verbosity.CLOSEST, max_edit_distance=1):
            if suggestion.term == token or self.lexicon.is_rare(suggestion.term):
                continue
            probability, _ = self._context((suggestion.term,), before, after)
            weight = probability * EDIT_ERROR
            if weight > CONTEXT_MARGIN * own and (best is None or weight > best.weight):
                best = _Candidate((suggestion.term,), "context", 1, weight, weight / own if own else 1.0)
        if best is None:
            return None
        reason = f"'{token}' is a rare word; next to its neighbours '{best.words[0]}' is likelier"
        return self._decision(token, best, best.weight / (best.weight + own), "fallback", reason)

    def _join(self, first: str, second: str, before: str | None) -> SpellingDecision | None:
        joined = first + second
        if self._fixed(first) or self._fixed(second) or self.lexicon.catalog.get(joined, 0) < MIN_JOIN_COUNT:
            return None
        as_pair, _ = self._context((first, second), before, None)
        as_word, _ = self._context((joined,), before, None)
        as_word *= SPACE_ERROR
        confidence = as_word / (as_word + as_pair)
        if confidence < self._apply:
            return None
        candidate = _Candidate((joined,), "join", 1, as_word, 1.0)
        reason = (
            f"the catalog writes '{joined}' as one word, {confidence:.0%} likelier than the pair; both "
            "words are real, so the search looks for either spelling instead of rewriting the query"
        )
        return self._decision(f"{first} {second}", candidate, confidence, "expanded", reason)

    def _forced(self, words: Sequence[str], start: int) -> tuple[int, SpellingDecision] | None:
        for length in (3, 2, 1):
            key = tuple(words[start : start + length])
            if len(key) == length and key in self._forced_words:
                replacement = self._forced_words[key]
                candidate = _Candidate(tuple(replacement.split()), "forced", 0, 1.0, 1.0)
                reason = "a merchandiser's rule in synonyms/spelling/corrections.txt"
                return length, self._decision(" ".join(key), candidate, 1.0, "applied", reason)
        return None

    # --- the query -------------------------------------------------------------------------------

    def correct(self, tokens: Sequence[str]) -> Correction:
        """Thread-safe: symspellpy's lookups and edit distances reuse buffers of their own."""
        with self._lock:
            return self._correct(tokens)

    def _correct(self, tokens: Sequence[str]) -> Correction:
        decisions: list[SpellingDecision] = []
        unknown = 0
        applied: list[str] = []  # the words as the search will use them
        suggested: list[str] = []  # ... with the suggestions too
        fallback: list[str] = []  # ... with every alternative
        expanded: list[str] = []  # the applied words with joined pairs as one word
        index = 0
        while index < len(tokens):
            token = tokens[index]
            before = applied[-1] if applied else None
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            forced = self._forced(tokens, index)
            decision: SpellingDecision | None = None
            consumed = 1
            if forced is not None:
                consumed, decision = forced
            elif after is not None and (joined := self._join(token, after, before)) is not None:
                consumed, decision = 2, joined
            elif self._fixed(token):
                decision = None
            elif self.lexicon.is_known(token):
                decision = self._rare(token, before, after)
            elif unknown < MAX_UNKNOWN_WORDS:
                unknown += 1
                context = " ".join(w for w in tokens if w != token and w not in FUNCTION_WORDS)
                decision = self._unknown(token, before, after, context)
            original = tokens[index : index + consumed]
            replacement = decision.replacement.split() if decision else original
            if decision is not None:
                decisions.append(decision)
            applied += replacement if decision and decision.action == "applied" else original
            suggested += replacement if decision and decision.action in ("applied", "suggested") else original
            fallback += replacement if decision and decision.action != "expanded" else original
            expanded += replacement if decision and decision.action in ("applied", "expanded") else original
            index += consumed
        return self._result(list(tokens), applied, suggested, fallback, expanded, decisions)

    @staticmethod
    def _result(
        tokens: list[str],
        applied: list[str],
        suggested: list[str],
        fallback: list[str],
        expanded: list[str],
        decisions: list[SpellingDecision],
    ) -> Correction:
        changed = [d.confidence for d in decisions if d.action in ("applied", "suggested")]
        return Correction(
            applied=" ".join(applied) if applied != tokens else None,
            suggested=" ".join(suggested) if suggested != applied else None,
            fallback=" ".join(fallback) if fallback not in (tokens, applied, suggested) else None,
            expanded=" ".join(expanded) if expanded != applied else None,
            confidence=min(changed, default=1.0),
            decisions=tuple(decisions),
        )

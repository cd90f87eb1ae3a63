"""What the spelling corrector knows about words: a small language model over three sources.

- the catalog (weighted counts of title, brand, category, attribute and description words): what this
  shop sells, so "dining" beats "doing" for "doning table";
- a general English lexicon (symspellpy's word and word-pair frequencies, copied into the artifact):
  ordinary words the catalog never uses ("rug", "faucet", "kettle") are words, not typos;
- past successful queries (logged searches that a shopper then clicked on): shopper words neither of
  the others has.

A word's probability mixes the three sources' relative frequencies (`SOURCE_WEIGHTS`); a word pair's
conditional probability mixes the bigram estimates of the sources that know the first word, smoothed
with the unigram so unseen pairs are unlikely, not impossible (`BIGRAM_TRUST`).
"""

from __future__ import annotations

from collections.abc import Mapping

from quarry.understanding.schemas import WordFrequencies

# The catalog's few hundred words would swamp the lexicon at a larger share ("podge" -> "lodge").
SOURCE_WEIGHTS = {"catalog": 0.2, "english": 0.65, "queries": 0.15}
# How far a seen word pair outweighs the unigram: high, so context decides between candidates of
# similar frequency ("cool designs" vs "cool resins"), and an unseen pair costs a candidate a factor of
# about five against one its neighbours support.
BIGRAM_TRUST = 0.8
# English words rarer than this (per symspellpy's counts, whose smallest entry is ~12,700) are "very
# rare": known, so never corrected silently, but a did_you_mean may question them when the query
# retrieves poorly and context strongly prefers a common word.
RARE_ENGLISH_COUNT = 60_000
# English words at least this frequent (symspellpy's counts) are everyday words.
COMMON_ENGLISH_COUNT = 25_000_000
# A query-log word needs this many successful queries before it counts as known.
MIN_QUERY_SUPPORT = 2
# Catalog title bigrams are counted once per title while catalog words are weighted by field (a
# title word counts 5): this puts the two on one scale.
CATALOG_TITLE_WEIGHT = 5


# American and British spellings of one word (the English lexicon leans British: it has "colour" and
# "jewellery" but not "jewelry" or "odor"): (American, British) spellings of a part of a word,
# tried wherever the part occurs ("multicolored" -> "multicoloured", "organizer" -> "organiser").
_SPELLING_VARIANTS = (("ize", "ise"), ("iza", "isa"), ("izi", "isi"), ("yze", "yse"))
# "or" -> "our" only before these endings (color, colored, favorite, odors), so that no typo ("fork"
# -> "fourk") turns into a word.
_OR_ENDINGS = ("", "s", "ed", "ing", "ful", "less", "ite", "ites", "able", "er", "ers", "ize", "ization")
# Endings that derive a word from another ("massager", "snugglers", "swaddled"): a known stem with one of
# these is a word, however rare.
# The stem must keep `MIN_STEM` letters, so that typos of short words ("slipers", "sockd") stay typos.
_DERIVING_ENDINGS = ("ers", "er", "ing", "ed", "ly", "less")
MIN_STEM = 5
# ... and of a word's ending only ("center" -> "centre", "catalog" -> "catalogue", "traveled").
_ENDING_VARIANTS = (("er", "re"), ("ers", "res"), ("og", "ogue"), ("eled", "elled"), ("eling", "elling"))


def _british(word: str) -> list[str]:
    forms = []
    for american, british in _SPELLING_VARIANTS:
        start = word.find(american, 1)
        while start != -1:
            forms.append(word[:start] + british + word[start + len(american) :])
            start = word.find(american, start + 1)
    for ending in _OR_ENDINGS:
        stem = word[: len(word) - len(ending)]
        if word.endswith(ending) and stem.endswith("or") and len(stem) >= 4:
            forms.append(stem[:-2] + "our" + ending)
    for american, british in _ENDING_VARIANTS:
        if word.endswith(american) and len(word) >= len(american) + 4:  # "center", not "fier"
            forms.append(word[: -len(american)] + british)
    return forms


def word_forms(word: str) -> list[str]:
    """Other forms of a word that make it a word too: the singular of a plural or possessive (leds ->
    led, boxes -> box, ponies -> pony), the
    stem of a derived word (massager -> massage, snugglers -> snuggle) and the British spelling of an
    American one (odor -> odour, watercolors -> watercolours). The plural of a singular is
    `Lexicon.is_known`'s, for shop words only."""
    forms = []
    if word.endswith("'s"):
        forms.append(word[:-2])
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 4:
        forms.append(word[:-2])
    if word.endswith("s") and len(word) > 3 and not _consonant_y(word[:-1]) and not word.endswith(_SIBILANTS):
        # "strawberrys" is no plural (a consonant's y becomes "ies"), nor "brushs" or "boxs" (a hissing
        # ending takes "es")
        forms.append(word[:-1])
    for ending in _DERIVING_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            stem = word[: -len(ending)]
            if ending[0] in _VOWELS and stem.endswith("e") and not stem.endswith(_KEPT_E):
                continue  # "measureing": a silent e drops before a vowel ("measuring")
            if ending != "ing" and _consonant_y(stem):
                continue  # "pacifyer": a consonant's y becomes i ("pacifier"; "pacifying" keeps it)
            forms += [stem, stem + "e"]
    return forms + _british(word)


_VOWELS = frozenset("aeiou")
# Endings whose plural adds "es" ("brushes", "boxes", "watches"): with a bare "s" they are no plural.
_SIBILANTS = tuple(ending + "s" for ending in ("s", "sh", "ch", "x", "z"))
# Stems whose final e stays before a vowel ("agreeing", "dyeing", "canoeing").
_KEPT_E = ("ee", "ye", "oe")


def _consonant_y(stem: str) -> bool:
    return len(stem) > 2 and stem.endswith("y") and stem[-2] not in _VOWELS


def rival_spellings(word: str) -> list[str]:
    """Spellings that English rules prefer to a derived form built without them: the doubled final
    consonant ("controler" -> "controller", "shreder" -> "shredder") and the -or agent noun
    ("projecter" -> "projector", "calculater" -> "calculator"). A derived form not listed anywhere is
    only a word when no rival is (`Lexicon.is_known`)."""
    rivals = []
    for ending in ("ers", "er", "ing", "ed"):
        stem = word[: -len(ending)]
        if word.endswith(ending) and len(stem) >= 3:
            last, before = stem[-1], stem[-2]
            if last not in _VOWELS and last not in "wxy" and before in _VOWELS and stem[-3] not in _VOWELS:
                rivals.append(stem + last + ending)
    if word.endswith("er"):
        rivals.append(word[:-2] + "or")
    elif word.endswith("ers"):
        rivals.append(word[:-3] + "ors")
    return rivals


class Lexicon:
    def __init__(
        self,
        catalog: Mapping[str, int],
        english: Mapping[str, int],
        queries: Mapping[str, int],
        catalog_bigrams: Mapping[tuple[str, str], int],
        english_bigrams: Mapping[tuple[str, str], int],
        query_bigrams: Mapping[tuple[str, str], int] | None = None,
        web: Mapping[str, int] | None = None,
    ) -> None:
        """`web`: words of the contemporary web and subtitles too rare to count as known (wordfreq's
        Zipf 1 to 3: brand names, product terms, and common misspellings alike), per billion words."""
        self.web = dict(web or {})
        self.catalog = dict(catalog)
        self.english = dict(english)
        self.queries = {w: n for w, n in queries.items() if n >= MIN_QUERY_SUPPORT}
        self._bigrams = {
            "catalog": dict(catalog_bigrams),
            "english": dict(english_bigrams),
            "queries": dict(query_bigrams or {}),
        }
        self._unigrams = {"catalog": self.catalog, "english": self.english, "queries": self.queries}
        totals = {name: sum(counts.values()) for name, counts in self._unigrams.items()}
        present = {name: weight for name, weight in SOURCE_WEIGHTS.items() if totals[name] > 0}
        norm = sum(present.values()) or 1.0
        # Per source: the factor that turns a count into its share of the mixed probability.
        self._scale = {name: present.get(name, 0.0) / norm / (totals[name] or 1) for name in SOURCE_WEIGHTS}

    def title_words(self) -> set[str]:
        """Words of catalog titles (the title word pairs' words): what the shop names products with, as
        opposed to what its descriptions happen to say ("machine washable")."""
        return {word for pair in self._bigrams["catalog"] for word in pair}

    def frequencies(self, word: str) -> WordFrequencies:
        return WordFrequencies(
            catalog=self.catalog.get(word, 0),
            english=self.english.get(word, 0),
            queries=self.queries.get(word, 0),
        )

    def probability(self, word: str) -> float:
        return sum(self._unigrams[name].get(word, 0) * scale for name, scale in self._scale.items())

    def typed_probability(self, word: str) -> float:
        """How often people write this rare word, on the scale of `probability`: the prior that a word
        typed as it is was meant as it is. "vitamix" is written often enough to stand against
        "vitamin"; "sneekers" is a hundred times rarer than "sneakers"."""
        return self.web.get(word, 0) * 1e-9 * SOURCE_WEIGHTS["english"]

    def conditional(self, word: str, previous: str) -> float:
        """P(word | previous): the sources that know `previous` vote with their pair frequencies."""
        unigram = self.probability(word)
        estimates, weights = 0.0, 0.0
        for name, scale in self._scale.items():
            first = self._unigrams[name].get(previous, 0)
            if not scale or not first:
                continue
            pair = self._bigrams[name].get((previous, word), 0)
            if name == "catalog":
                pair *= CATALOG_TITLE_WEIGHT
            estimates += SOURCE_WEIGHTS[name] * min(1.0, pair / first)
            weights += SOURCE_WEIGHTS[name]
        if not weights:
            return unigram
        return (1 - BIGRAM_TRUST) * unigram + BIGRAM_TRUST * estimates / weights

    def in_sources(self, word: str) -> bool:
        return word in self.catalog or word in self.english or word in self.queries

    def is_known(self, word: str) -> bool:
        """A word some source has, another form of one (`word_forms`) that no listed spelling rivals
        (`rival_spellings`), or the singular of a shop word."""
        if self.in_sources(word):
            return True
        if any(self.in_sources(form) for form in word_forms(word)):
            return not any(self.in_sources(rival) for rival in rival_spellings(word))
        if "-" in word:  # "cover-up", "spider-man", "k-mini": a compound of words (or of letters)
            parts = [part for part in word.split("-") if part]
            return all(len(part) < 3 or self.is_known(part) for part in parts)
        # The singular of a plural the shop uses ("squishmallow"); English plurals would make every
        # "galaxi" or "potatoe" a word.
        plural = word + "s"  # never for words ending in s: "wireles" is no singular of "wireless"
        return len(word) > 3 and not word.endswith("s") and (plural in self.catalog or plural in self.queries)

    def is_common(self, word: str) -> bool:
        """An everyday English word ("city", "coach", "apple"): as a brand or product-line name it needs
        context before it counts as one."""
        return self.english.get(word, 0) >= COMMON_ENGLISH_COUNT

    def is_rare(self, word: str) -> bool:
        """Known only to the English lexicon, and rare there."""
        forms = [word, *word_forms(word)]
        if any(form in self.catalog or form in self.queries for form in forms):
            return False
        return max(self.english.get(form, 0) for form in forms) < RARE_ENGLISH_COUNT

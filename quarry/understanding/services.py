"""The query-understanding pipeline and the hot-swappable model it runs on."""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from quarry.adapters.artifact_store import ArtifactNotFoundError, ArtifactStore
from quarry.category_prototypes import CategoryPrototypes
from quarry.embeddings import Vectors
from quarry.hot_artifact import HotArtifact
from quarry.lru import Lru
from quarry.onnx_encoder import load_meaning_encoder
from quarry.settings import Settings
from quarry.text import normalize, tokens
from quarry.tracing import span
from quarry.understanding.classify import EntityExtractor, classify
from quarry.understanding.lexicon import Lexicon, word_forms
from quarry.understanding.meaning import (
    REMEMBERED_TEXTS,
    CategoryFit,
    EncoderRelatedness,
    PrototypeFit,
    Relatedness,
)
from quarry.understanding.numeric import Match, UnitIndex
from quarry.understanding.numeric import apply as apply_numbers
from quarry.understanding.numeric import parse as parse_numbers
from quarry.understanding.schemas import Correction, Entities, UnderstoodQuery
from quarry.understanding.spelling import SpellCorrector
from quarry.vocabulary import (
    ARTIFACT,
    BIGRAMS_FILE,
    DICTIONARY_FILE,
    ENGLISH_BIGRAMS_FILE,
    ENGLISH_FILE,
    QUERY_BIGRAMS_FILE,
    QUERY_TERMS_FILE,
    SPELLING_RULES_FILE,
    VOCABULARY_FILE,
    WEB_WORDS_FILE,
    SpellingRules,
    Vocabulary,
    decode_bigrams,
    decode_dictionary,
)

log = logging.getLogger("quarry.understanding")

MAX_QUERY_LENGTH = 256
MEMO_ENTRIES = 20_000


class QueryRejectedError(ValueError):
    """The query is empty or too long after normalization."""


class SpellingThresholds(msgspec.Struct, frozen=True):
    apply: float = 0.8
    suggest: float = 0.5


class UnderstandingModel:
    """One loaded version of the query-understanding artifact."""

    def __init__(
        self,
        version: str | None,
        lexicon: Lexicon,
        vocabulary: Vocabulary,
        rules: SpellingRules | None = None,
        thresholds: SpellingThresholds | None = None,
        relatedness: Relatedness | None = None,
        category_fit: CategoryFit | None = None,
    ) -> None:
        thresholds = thresholds or SpellingThresholds()
        self.version = version
        self.vocabulary = vocabulary
        self.speller = SpellCorrector(
            lexicon, set(vocabulary.protected), rules, thresholds.apply, thresholds.suggest, relatedness
        )
        self.units = UnitIndex(vocabulary.attributes)
        self._category_keys = {name: set(keys) for name, keys in vocabulary.category_attributes.items()}
        # The words this shop's index understands: what its titles, brands, attributes, categories
        # and synonym rules say (match quality asks whether the query's words are among them).
        self.shop_words = (
            lexicon.title_words()
            | {w for b in vocabulary.brands for w in tokens(normalize(b))}
            | {w for c in vocabulary.categories for w in tokens(normalize(c))}
            | {w for values in vocabulary.attributes.values() for v in values for w in tokens(v)}
            | set(vocabulary.synonym_words)
        )
        self.extractor = EntityExtractor(vocabulary, lexicon.is_common, lexicon.title_words(), category_fit)

    def fits(self, match: Match, words: list[str], entities: Entities) -> bool:
        """Whether a numeric expression is a constraint of this query's product. Prices and ratings
        always are; a unit only when a named category's products have that attribute and it is not
        said of something else ("12 inch skillet", "tv stand for 65 inch tv" stay text)."""
        key = match.unit_key
        if key is None:
            return True
        if "for" in words[: match.start]:
            return False
        return any(key in self._category_keys.get(category, set()) for category in entities.category)

    @classmethod
    def empty(cls) -> UnderstandingModel:
        return cls(
            None,
            Lexicon({}, {}, {}, {}, {}),
            Vocabulary(brands=[], categories=[], attributes={}, protected=[]),
        )

    @classmethod
    def load(
        cls,
        store: ArtifactStore,
        version: str,
        thresholds: SpellingThresholds | None = None,
        relatedness: Relatedness | None = None,
        category_fit: CategoryFit | None = None,
    ) -> UnderstandingModel:
        def optional(filename: str) -> bytes:
            """Versions built before the English lexicon and the query log joined lack these files."""
            try:
                return store.read(ARTIFACT, version, filename)
            except ArtifactNotFoundError:
                return b""

        lexicon = Lexicon(
            catalog=decode_dictionary(store.read(ARTIFACT, version, DICTIONARY_FILE)),
            english=decode_dictionary(optional(ENGLISH_FILE)),
            queries=decode_dictionary(optional(QUERY_TERMS_FILE)),
            catalog_bigrams=decode_bigrams(store.read(ARTIFACT, version, BIGRAMS_FILE)),
            english_bigrams=decode_bigrams(optional(ENGLISH_BIGRAMS_FILE)),
            query_bigrams=decode_bigrams(optional(QUERY_BIGRAMS_FILE)),
            web=decode_dictionary(optional(WEB_WORDS_FILE)),
        )
        vocabulary = msgspec.json.decode(store.read(ARTIFACT, version, VOCABULARY_FILE), type=Vocabulary)
        rules_file = optional(SPELLING_RULES_FILE)
        rules = msgspec.json.decode(rules_file, type=SpellingRules) if rules_file else SpellingRules()
        return cls(version, lexicon, vocabulary, rules, thresholds, relatedness, category_fit)


class QueryUnderstanding:
    """Runs the steps in order and swaps in a newly activated artifact without a restart.

    Without any artifact it still normalizes and classifies (no corrections, no entities) and reports
    itself degraded, so a fresh deployment serves search before the first `make vocabulary`."""

    def __init__(
        self,
        store: ArtifactStore,
        auto_correct_confidence: float,
        reload_interval_s: float,
        suggest_confidence: float = 0.5,
        relatedness: Relatedness | None = None,
        category_fit: CategoryFit | None = None,
    ) -> None:
        """`relatedness`: how well words fit a query's other words in meaning (the query encoder's),
        for choosing between an unknown word's readings; without it only word-pair counts decide.
        `category_fit`: how well a query fits each category's products, for telling a brand that is
        an everyday word from the word; without it word lists decide."""
        thresholds = SpellingThresholds(apply=auto_correct_confidence, suggest=suggest_confidence)
        self._memo: Lru[tuple[str, str | None], UnderstoodQuery] = Lru(MEMO_ENTRIES)
        self._model = HotArtifact(
            store,
            ARTIFACT,
            lambda version: UnderstandingModel.load(store, version, thresholds, relatedness, category_fit),
            reload_interval_s,
            UnderstandingModel.empty(),
            background=True,  # a new lexicon takes seconds to load: never on a request
        )

    @classmethod
    def served(
        cls,
        settings: Settings,
        store: ArtifactStore,
        query_vector: Callable[[str], Vectors | None],
        prototypes: Callable[[], CategoryPrototypes | None],
        remembered_texts: int = REMEMBERED_TEXTS,
    ) -> QueryUnderstanding:
        """As the API serves it, and as the reports and tests measure it: spelling weighs readings by
        meaning with the meaning encoder (QUARRY_SPELLING_MEANING_ENCODER), and entities ask how well
        a query fits the category prototypes, through `query_vector` (the query encoder's)."""
        meaning = load_meaning_encoder(settings, store)
        return cls(
            store,
            settings.spell_auto_correct_confidence,
            settings.artifact_reload_interval_s,
            settings.spell_suggest_confidence,
            EncoderRelatedness(meaning, remembered_texts) if meaning else None,
            PrototypeFit(query_vector, prototypes),
        )

    @property
    def version(self) -> str | None:
        return self._model.version

    @property
    def attribute_keys(self) -> set[str]:
        return set(self._model.value.vocabulary.attributes)

    @property
    def vocabulary(self) -> Vocabulary:
        return self._model.value.vocabulary

    def knows(self, word: str) -> bool:
        """Whether the word is a word at all (any lexicon, another form of one, a protected word):
        what tells a description in plain words from a keyboard mash."""
        return self._model.value.speller.is_known(word)

    def catalog_knows(self, word: str) -> bool:
        """Whether the shop's own vocabulary has the word, or another form of it (`word_forms`)."""
        shop = self._model.value.shop_words
        return word in shop or any(form in shop for form in word_forms(word))

    @property
    def degraded(self) -> bool:
        return self._model.version is None

    def reload(self) -> bool:
        return self._model.reload()

    def reload_if_due(self) -> None:
        """The periodic check for a newly activated artifact (reads the model store)."""
        self._model.get(allow_reload=True)

    def normalize(self, raw: str) -> str:
        normalized = normalize(raw)
        if not normalized:
            raise QueryRejectedError(
                "q is empty after normalization (only spaces, punctuation or control characters)"
            )
        if len(normalized) > MAX_QUERY_LENGTH:
            raise QueryRejectedError(
                f"q is {len(normalized)} characters after normalization; the limit is {MAX_QUERY_LENGTH}"
            )
        return normalized

    def remembered(self, raw: str) -> UnderstoodQuery | None:
        """The query as already understood by the current model, or None: no model work at all."""
        return self._memo.get((raw, self._model.version))

    def understand(self, raw: str, allow_reload: bool = True) -> UnderstoodQuery:
        """`allow_reload=False` for callers on the event loop: the reload check reads the model store.

        Results are remembered per model version (an LRU of `MEMO_ENTRIES` raw queries): shoppers
        repeat head queries all day, and spelling correction plus entity extraction was 12 % of a
        busy worker's time on cached searches (py-spy, docs/search-api.md#performance)."""
        model = self._model.get(allow_reload)
        key = (raw, model.version)
        with span("query.understand") as understanding:
            known = self._memo.get(key)
            understanding.set_attribute("quarry.understanding.remembered", known is not None)
            if known is not None:
                return known
            understood = self._understand(raw, model)
        self._memo.put(key, understood)
        return understood

    def _understand(self, raw: str, model: UnderstandingModel) -> UnderstoodQuery:
        with span("query.normalize"):
            normalized = self.normalize(raw)
            words = tokens(normalized)
        with span("query.spell_correction") as spelling:
            correction = model.speller.correct(words) if model.version else Correction()
            applied = correction.applied
            spelling.set_attribute("quarry.correction.applied", applied is not None)
            spelling.set_attribute("quarry.correction.confidence", correction.confidence)
        final_words = tokens(applied) if applied else words
        with span("query.numbers"):
            found = parse_numbers(final_words, model.units)
        with span("query.classify") as classifying:
            # Entities from the words without numbers: "under 30" would make "blender" a modifier.
            entities = model.extractor.extract(list(found.words)) if model.version else Entities()
            intent = classify(final_words, model.extractor, entities)
            classifying.set_attribute("quarry.query.intent", intent)
        numbers = apply_numbers(
            final_words, [m for m in found.matches if model.fits(m, final_words, entities)]
        )
        expanded = correction.expanded
        if numbers.filters and expanded:
            expanded = " ".join(parse_numbers(tokens(expanded), model.units).words)
        return UnderstoodQuery(
            original=raw,
            normalized=normalized,
            corrected=applied,
            did_you_mean=correction.suggested,
            correction_confidence=correction.confidence,
            intent=intent,
            entities=entities,
            spelling=correction.decisions,
            fallback=correction.fallback,
            expanded=expanded,
            filters=numbers.filters,
            searched=" ".join(numbers.words) if numbers.filters else None,
        )

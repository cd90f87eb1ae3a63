"""Intent classification and entity extraction from the catalog's own vocabularies.

Intents: `informational` (best, how, which, vs ...) wins over `transactional` (buy, cheap, deal, price
words, "under 50"), which wins over `navigational` (a brand, optionally with model numbers);
everything else is `product_search`. Entities are soft boosts for retrieval, never filters.
"""

from __future__ import annotations

from api.understanding.schemas import Entities
from quarry.text import normalize, tokens
from quarry.vocabulary import INFORMATIONAL_WORDS, TRANSACTIONAL_WORDS, Vocabulary

LETTER_SIZES = {"xs", "xl", "xxl"}
MAX_NGRAM = 3


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class EntityExtractor:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self._brands = {normalize(b): b for b in vocabulary.brands}
        self._categories: dict[str, str] = {}
        for name in vocabulary.categories:
            key = normalize(name)
            words = tokens(key)
            self._categories[key] = name
            self._categories[" ".join(_singular(w) for w in words)] = name
            self._categories.setdefault(_singular(words[-1]), name)  # head noun: "case" -> Phone Cases
        self._departments = {k: set(v) for k, v in vocabulary.departments.items()}
        self._attributes = {
            key: set(vocabulary.attributes.get(key, [])) for key in ("color", "material", "size")
        }
        self._brand_tokens = {t for b in self._brands for t in b.split()}
        self._models = set(vocabulary.models)

    def extract(self, words: list[str]) -> Entities:
        found: dict[str, list[str]] = {"brand": [], "category": [], "color": [], "size": [], "material": []}
        used = [False] * len(words)
        for n in range(MAX_NGRAM, 0, -1):  # longest phrases first: "new balance" before "balance"
            for start in range(len(words) - n + 1):
                if any(used[start : start + n]):
                    continue
                phrase = " ".join(words[start : start + n])
                singular = " ".join(_singular(w) for w in words[start : start + n])
                if phrase in self._brands:
                    found["brand"].append(self._brands[phrase])
                elif phrase in self._categories or singular in self._categories:
                    found["category"].append(self._categories.get(phrase) or self._categories[singular])
                elif phrase in self._attributes["color"]:
                    found["color"].append(phrase)
                elif phrase in self._attributes["material"]:
                    found["material"].append(phrase)
                else:
                    continue
                used[start : start + n] = [True] * n
        found["brand"] = self._brands_of_the_departments(found["brand"], found["category"])
        for index, word in enumerate(words):
            follows_size = index > 0 and words[index - 1] == "size"
            if (follows_size and word in self._attributes["size"]) or word in LETTER_SIZES:
                found["size"].append(word.upper() if word in LETTER_SIZES else word)
        return Entities(**{kind: tuple(values) for kind, values in found.items()})

    def _brands_of_the_departments(self, brands: list[str], categories: list[str]) -> list[str]:
        """ "apple juice": Juice is Grocery and Apple sells no groceries, so "apple" is the fruit here."""
        if not categories:
            return brands
        wanted = set().union(*(self._departments.get(c, set()) for c in categories))
        return [b for b in brands if not wanted or self._departments.get(b, wanted) & wanted]

    def is_brand_led(self, words: list[str], entities: Entities) -> bool:
        """Navigational: a brand or product line ("iphone 15", "samsung galaxy s24", "lego") and
        nothing but brand words, product-line words and model numbers."""
        if not entities.brand and not any(w in self._models for w in words):
            return False
        return all(w in self._brand_tokens or w in self._models or any(c.isdigit() for c in w) for w in words)


def classify(words: list[str], extractor: EntityExtractor, entities: Entities) -> str:
    vocabulary = set(words)
    if vocabulary & INFORMATIONAL_WORDS:
        return "informational"
    if vocabulary & TRANSACTIONAL_WORDS:
        return "transactional"
    if extractor.is_brand_led(words, entities):
        return "navigational"
    return "product_search"


def words_of(text: str) -> list[str]:
    return tokens(normalize(text))

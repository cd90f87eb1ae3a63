"""Intent classification and entity extraction from the catalog's own vocabularies, with evidence.

Intents: `informational` (best, how, which, vs ...) wins over `transactional` (buy, cheap, deal, price
words, "under 50"), which wins over `navigational` (a brand or product line, optionally with model
numbers); everything else is `product_search`. Entities are soft boosts for retrieval, never filters.

An entity needs evidence (docs/query-understanding.md#entities):
- names match as whole phrases, longest first ("new balance" before "balance", "coffee table" before
  "coffee"); a brand may be typed without its punctuation or article ("levis", "north face"); a
  shopper word names what the synonym rules say it means ("couch", "grey");
- a product term names a category only at the head of its phrase and not after a word the catalog
  never uses: "phone case" is a phone case, but "phone stand", "laptop desk", "dog shampoo" and
  "dryer sheets" are other products;
- a one-word series that is also a common word ("city", "flight", "friends") needs its brand or a
  product of its brand's departments next to it ("city bike" is no LEGO City);
- an entity that contradicts the rest is dropped: a brand outside the named category's department
  ("apple juice", "giant teddy bear"), a series of another brand or department ("star wars
  t-shirt"), a listed model inside a longer one ("iphone 15 pro max"), and colours or materials of
  something else: what follows "for" ("shampoo for gray hair") or a product the catalog never names
  ("black friday", "white noise machine", "cotton candy").
"""

from __future__ import annotations

from collections.abc import Callable

from quarry.text import normalize, tokens
from quarry.understanding.meaning import CategoryFit
from quarry.understanding.schemas import Entities
from quarry.vocabulary import (
    FUNCTION_WORDS,
    INFORMATIONAL_WORDS,
    QUERY_WORDS,
    TRANSACTIONAL_WORDS,
    Vocabulary,
)

LETTER_SIZES = {"xs": "XS", "s": "S", "m": "M", "l": "L", "xl": "XL", "xxl": "XXL"}
SPOKEN_SIZES = {"small": "S", "medium": "M", "large": "L", "xlarge": "XL", "x-large": "XL"}
MAX_NGRAM = 4
# Words that may follow a product term without making it a mere modifier ("running shoes size 10",
# "sofa set", "case clear"): sizes and packaging words.
TRAILING_WORDS = {"size", "set", "sets", "pack", "kit", "only", "new"}


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _aliases(name: str) -> set[str]:
    """How shoppers type a name: "Levi's" as levis, "The North Face" as north face, "H&M" as h m or hm,
    "Gel-Kayano 30" as gel kayano 30, "Galaxy Z Flip5" as galaxy z flip 5."""
    key = " ".join(tokens(normalize(name)))
    variants = {key, key.replace("'", ""), key.replace("-", " "), key.replace("&", " "), key.replace("&", "")}
    variants |= {v.removeprefix("the ") for v in list(variants)}
    spaced = {" ".join(_split_digits(w) for w in v.split()) for v in variants}
    return {" ".join(tokens(v)) for v in variants | spaced if tokens(v)}


def _split_digits(word: str) -> str:
    """flip5 -> flip 5, buds2 -> buds 2 (but s24, 760nc, x360 stay: they start or end with a letter run)."""
    head = word.rstrip("0123456789")
    return f"{head} {word[len(head) :]}" if head.isalpha() and len(head) > 2 and head != word else word


def _names_no_product(word: str) -> bool:
    """A word that says nothing about which product is meant: a function or shopper word, a size or
    packaging word, a number, a single letter."""
    return (
        len(word) < 2
        or word in FUNCTION_WORDS
        or word in QUERY_WORDS
        or word in TRAILING_WORDS
        or word in SPOKEN_SIZES
        or any(ch.isdigit() for ch in word)
    )


# Attribute keys that say a product has a colour (cosmetics call it a shade).
COLOR_KEYS = {"color", "shade"}
# A brand that is an everyday word is the word when the query fits another department's products by
# this much more cosine than the brand's (category prototypes; docs/query-understanding.md#entities).
BRAND_FIT_MARGIN = 0.05


def _department(path: str) -> str:
    return path.split(" > ", 1)[0]


# Words that extend a model name into another model ("iphone 15 pro max", "galaxy s24 plus").
MODEL_EXTENSIONS = {"plus", "max", "mini", "ultra", "pro", "lite", "fe", "se"}


class EntityExtractor:
    def __init__(
        self,
        vocabulary: Vocabulary,
        is_common_word: Callable[[str], bool] | None = None,
        catalog_words: set[str] | None = None,
        category_fit: CategoryFit | None = None,
    ) -> None:
        """`catalog_words`: the words of catalog titles; a product term after any other content word
        ("dog shampoo", "dryer sheets") names another product. `category_fit`: how well the query fits
        each category's products, asked when a brand is an everyday word ("apple pie")."""
        self._common = is_common_word or (lambda word: False)
        self._category_fit = category_fit
        self._brands: dict[str, str] = {}
        for brand in vocabulary.brands:
            for alias in _aliases(brand):
                self._brands.setdefault(alias, brand)
        self._categories: dict[str, str] = {}
        for name in vocabulary.categories:
            key = " ".join(tokens(normalize(name)))
            if key in QUERY_WORDS or _singular(key) in QUERY_WORDS:
                continue  # "Men", "Women", "Kids": who it is for, said of every kind of product
            self._categories[key] = name
            self._categories[" ".join(_singular(w) for w in key.split())] = name
        for term, leaf in vocabulary.category_terms.items():
            self._categories.setdefault(term, leaf)
            self._categories.setdefault(" ".join(_singular(w) for w in term.split()), leaf)
        self._series: dict[str, tuple[str, str]] = {}
        for key, series in vocabulary.series.items():
            if not any(ch.isalpha() for ch in key):
                continue  # a bare number ("574", "12") is a model only in a title, never alone in a query
            for alias in _aliases(series.name) | {key}:
                self._series.setdefault(alias, (series.name, series.brand))
        self._departments = {k: set(v) for k, v in vocabulary.departments.items()}
        self._category_attributes = {
            name: {key: set(values) for key, values in keys.items()}
            for name, keys in vocabulary.category_attributes.items()
        }
        self._attributes = {key: set(vocabulary.attributes.get(key, [])) for key in ("color", "material")}
        self._aliases: dict[str, str] = {}  # shopper word -> the attribute value it means
        self._read_synonyms(vocabulary.synonyms)
        self._attribute_words = {
            word for values in vocabulary.attributes.values() for value in values for word in value.split()
        }
        self._brand_tokens = {t for b in self._brands for t in b.split()}
        self._models = set(vocabulary.models)
        self._catalog_words = (
            self._attribute_words | self._brand_tokens | self._models | set(catalog_words or ())
        )
        self._line_words = {w for name in self._series for w in name.split()}
        # Empty for artifacts built before title words were recorded: those rules then stay off.
        self._title_words = {name: set(words) for name, words in vocabulary.title_words.items()}
        self._all_departments = set().union(*self._departments.values())

    def _sold_elsewhere(self, brand: str, head: str | None) -> bool:
        """Whether the product said of a brand is one the catalog sells only in departments the brand
        is not in ("penguin plush"). A product the catalog never names ("yeti cooler", "hp printer
        ink") is no evidence against the brand."""
        if head is None:
            return False
        selling = {d for d in self._all_departments if self._names_it(d, head, False)}
        return bool(selling) and not selling & self._departments.get(brand, set())

    def _fits_elsewhere(self, brand: str, words: list[str]) -> bool:
        """Whether the whole query fits another department's products better, by `BRAND_FIT_MARGIN`,
        than any of the brand's (the category prototypes of semantic search): "apple pie", "coach
        whistle" and "mac and cheese" are no Apple, Coach or MAC; "apple pencil" and "coach wallet" are.
        Asked only of a one-word brand that is an everyday word and is said of a product."""
        if self._category_fit is None or not self._common_name(brand):
            return False
        fit = self._category_fit.fit(" ".join(words))
        own = self._departments.get(brand, set())
        if not fit or not own:
            return False
        best_own = max((c for path, c in fit.items() if _department(path) in own), default=None)
        best_other = max((c for path, c in fit.items() if _department(path) not in own), default=None)
        return best_own is not None and best_other is not None and best_other - best_own >= BRAND_FIT_MARGIN

    def _names_it(self, name: str, word: str, unknown: bool = True) -> bool:
        """Whether the titles of a brand's or category's products use this word (or its singular);
        `unknown` when the vocabulary has no title words for the name."""
        words = self._title_words.get(name)
        if words is None:
            return unknown
        return word in words or _singular(word) in words

    def _read_synonyms(self, synonyms: dict[str, list[str]]) -> None:
        """Shopper words the synonym rules give a meaning name what they mean ("couch" a sofa, "grey"
        the colour gray), unless the word is a name itself."""
        for term, meanings in synonyms.items():
            if term in self._categories or any(term in values for values in self._attributes.values()):
                continue
            for meaning in meanings:
                singular = " ".join(_singular(w) for w in meaning.split())
                category = self._categories.get(meaning) or self._categories.get(singular)
                if category is not None:
                    self._categories.setdefault(term, category)
                    self._categories.setdefault(" ".join(_singular(w) for w in term.split()), category)
                    break
                if any(meaning in values for values in self._attributes.values()):
                    self._aliases.setdefault(term, meaning)
                    break

    # --- matching --------------------------------------------------------------------------------

    def _match(self, words: list[str]) -> list[tuple[int, int, str, str]]:
        """(start, end, kind, value) of every name, longest phrases first, without overlaps."""
        found: list[tuple[int, int, str, str]] = []
        used = [False] * len(words)
        for n in range(min(MAX_NGRAM, len(words)), 0, -1):
            for start in range(len(words) - n + 1):
                if any(used[start : start + n]):
                    continue
                phrase = " ".join(words[start : start + n])
                singular = " ".join(_singular(w) for w in words[start : start + n])
                if phrase in self._brands:
                    kind, value = "brand", self._brands[phrase]
                elif phrase in self._series:
                    kind, value = "series", self._series[phrase][0]
                elif phrase in self._categories or singular in self._categories:
                    kind, value = "category", self._categories.get(phrase) or self._categories[singular]
                elif (value := self._aliases.get(phrase, phrase)) in self._attributes["color"] or (
                    value in self._attributes["material"]
                ):
                    kind = "color" if value in self._attributes["color"] else "material"
                    if value in self._attributes["color"] and value in self._attributes["material"]:
                        kind = "attribute"  # both ("stainless steel"): the category decides, below
                else:
                    continue
                used[start : start + n] = [True] * n
                found.append((start, start + n, kind, value))
        return sorted(found)

    def _describes_only(
        self,
        words: list[str],
        end: int,
        names: list[tuple[int, int, str, str]],
        product_term: bool = True,
        category: str | None = None,
    ) -> bool:
        """Whether a name at words[..end] is followed by another product word, which makes it a
        modifier ("phone stand", "white noise machine"): a following word that is not a name, a
        number, a size, an attribute value, a function word or a catalog word; for a product term
        (`product_term`), another product term as well ("coffee table book"), or a catalog word the
        named `category`'s titles never use ("sofa cover": covers are another product)."""
        starts = {start for start, _, _, _ in names}
        for index in range(end, len(words)):
            word = words[index]
            if word in FUNCTION_WORDS:
                return False
            if index in starts or any(start <= index < stop for start, stop, _, _ in names):
                kind = next(k for start, stop, k, _ in names if start <= index < stop)
                if not product_term and kind in ("color", "material", "attribute"):
                    continue  # "red velvet cake": what the velvet is of decides for both
                return product_term and kind == "category"
            if any(ch.isdigit() for ch in word) or word in TRAILING_WORDS or word in LETTER_SIZES:
                continue
            if word in self._catalog_words and (
                category is None or word in self._attribute_words or self._names_it(category, word)
            ):
                continue
            return True
        return False

    def _modified_by_another_product(
        self, words: list[str], start: int, names: list[tuple[int, int, str, str]], category: str
    ) -> bool:
        """Whether the word before a product term is a content word the catalog never uses ("dog
        shampoo", "dryer sheets", "piano keyboard"), or one it uses but never in the named
        `category`'s titles or attribute values ("air conditioner", "baking sheet", "face mask"): the
        query is about another product."""
        if start == 0 or any(stop == start for _, stop, _, _ in names):
            return False
        previous = words[start - 1]
        if start >= 2 and any(ch.isdigit() for ch in words[start - 2]):
            return False  # a number's unit describes the product: "4+ star air fryer", "12 inch skillet"
        if _names_no_product(previous):
            return False
        if previous not in self._catalog_words:
            return True
        values = self._category_attributes.get(category, {}).values()
        return not (self._names_it(category, previous) or any(previous in v for v in values))

    # --- evidence --------------------------------------------------------------------------------

    def _departments_of(self, names: list[str]) -> set[str]:
        return set().union(*(self._departments.get(name, set()) for name in names)) if names else set()

    def extract(self, words: list[str]) -> Entities:
        names = self._match(words)
        after_for = next((i for i, w in enumerate(words) if w == "for"), len(words))
        found: dict[str, list[str]] = {
            "brand": [],
            "series": [],
            "category": [],
            "color": [],
            "material": [],
            "attribute": [],
        }
        departments_at = {
            start: self._departments.get(v, set()) for start, _, k, v in names if k == "category"
        }
        rejected: set[int] = set()  # where product terms of other products start
        for start, end, kind, value in names:
            if kind == "category" and (
                self._describes_only(words, end, names, category=value)
                or self._modified_by_another_product(words, start, names, value)
            ):
                rejected.add(start)
                continue
            if kind == "category" and any(
                stop == start
                and k == "category"
                and not departments_at[s] & self._departments.get(value, set())
                for s, stop, k, _ in names
            ):
                continue  # "air fryer liners", "bean bag chair": an accessory of another department's product
            if kind == "color" and any(stop == start and k == "color" for _, stop, k, _ in names):
                continue  # "navy blue": one colour, the first word's
            if kind in ("color", "material", "attribute") and (
                start > after_for
                or self._describes_only(words, end, names, product_term=False)
                or end in rejected
            ):
                continue  # "shampoo for gray hair", "white noise machine", "leather conditioner"
            if kind == "series" and end < len(words) and words[end] in MODEL_EXTENSIONS:
                continue  # "iphone 15 pro max" is another model than "iPhone 15 Pro"
            found[kind].append(value)
        categories = found["category"]
        wanted = self._departments_of(categories)
        brands = []
        for b in found["brand"]:
            if wanted and not self._departments.get(b, wanted) & wanted:
                continue  # "apple juice": the brand's departments sell no juice
            head = self._head_after(words, names, b)
            if self._sold_elsewhere(b, head) or (head is not None and self._fits_elsewhere(b, words)):
                continue  # "penguin plush"; "apple pie"
            brands.append(b)
        series = []
        for name in found["series"]:
            brand = self._series_brand(name)
            if brands and brand not in brands:
                continue  # another brand's product line
            if wanted and not wanted & self._departments.get(brand, wanted):
                continue  # "star wars t-shirt": the LEGO line is no shirt
            if (
                self._common_name(name)
                and brand not in brands
                and not (wanted & self._departments.get(brand, set()))
            ):
                continue  # "city bike", "star projector": a word, not the line
            series.append(name)
        # A colour or material the named products never have is said of something else: what the
        # product is for ("leather conditioner") or a name ("earl grey tea").
        keys = set().union(*(self._category_attributes.get(c, {}) for c in categories))
        colors = found["color"] if not categories or keys & COLOR_KEYS else []
        materials = found["material"] if not categories or "material" in keys else []
        for value in found["attribute"]:  # a colour or a material, as the named category has it
            keys = (
                set().union(*(self._category_attributes.get(c, {}) for c in categories))
                if categories
                else set()
            )
            has_color = any(
                value in self._category_attributes.get(c, {}).get("color", set()) for c in categories
            )
            (colors if has_color or ("material" not in keys and keys) else materials).append(value)
        return Entities(
            brand=tuple(brands),
            category=tuple(categories),
            color=tuple(colors),
            size=tuple(self._sizes(words)),
            material=tuple(materials),
            series=tuple(series),
        )

    def _head_after(self, words: list[str], names: list[tuple[int, int, str, str]], brand: str) -> str | None:
        """The product a brand is said of: the last word after the brand's name (and before "for")
        that is no name, number, size, attribute or shopper word; None when there is none ("nike",
        "nike red", "nike size 10" say nothing against Nike)."""
        end = max(stop for _, stop, k, v in names if k == "brand" and v == brand)
        named = {i for start, stop, _, _ in names for i in range(start, stop)}
        head = None
        for index in range(end, len(words)):
            word = words[index]
            if word == "for":
                break
            if (
                index in named
                or _names_no_product(word)
                or word in LETTER_SIZES
                or word in self._attribute_words
                or word in self._models
            ):
                continue
            head = word
        return head

    def _series_brand(self, name: str) -> str:
        return next(brand for series, brand in self._series.values() if series == name)

    def _common_name(self, name: str) -> bool:
        words = tokens(normalize(name))
        return len(words) == 1 and self._common(words[0])

    def _sizes(self, words: list[str]) -> list[str]:
        sizes = []
        for index, word in enumerate(words):
            follows_size = index > 0 and words[index - 1] == "size"
            if follows_size and (word.isdigit() or word in LETTER_SIZES or word in SPOKEN_SIZES):
                sizes.append(LETTER_SIZES.get(word) or SPOKEN_SIZES.get(word) or word)
            elif word in LETTER_SIZES and len(word) > 1 and not follows_size:
                sizes.append(LETTER_SIZES[word])
            elif word in SPOKEN_SIZES and index == len(words) - 1 and index > 0:
                sizes.append(SPOKEN_SIZES[word])  # "mens polo shirt large"
        return sizes

    def is_brand_led(self, words: list[str], entities: Entities) -> bool:
        """Navigational: a brand or product line ("iphone 15", "samsung galaxy s24", "lego") and
        nothing but brand words, product-line words and model numbers."""
        if not entities.brand and not entities.series and not any(w in self._models for w in words):
            return False
        return all(
            w in self._brand_tokens
            or w in self._models
            or w in self._line_words
            or any(c.isdigit() for c in w)
            for w in words
        )


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

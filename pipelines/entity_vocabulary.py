"""Entity vocabularies mined from catalog titles for query understanding: product lines (series) and
the product terms that name a leaf category. Rules (docs/query-understanding.md#entities):

- A series is what titles write right after a brand while the words are names (a capital letter or a
  digit in them) and not one of the product's attribute values: "Apple iPhone 15 Pro 256GB phone" gives
  "iPhone 15 Pro" for Apple, "LEGO Star Wars building set" gives "Star Wars". It must recur
  (`MIN_SERIES_PRODUCTS`), so one odd title makes no series.
- A category term is a title word or word pair that `MIN_TERM_PRODUCTS` products use, `MIN_TERM_SHARE`
  of them in one leaf: "blender" names Small Appliances, "coffee table" names Tables, while "coffee"
  (tables, coffee makers, ground coffee) names none. It must also be a product noun, which titles put
  last in their first part (before " - ", a comma, "for", "compatible", "size" or the numbers): in at
  least `MIN_HEAD_SHARE` of its titles it is that head, so "casual" or "classic" name nothing.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from quarry.text import normalize, tokens
from quarry.vocabulary import SeriesName

MIN_SERIES_PRODUCTS = 5
MAX_SERIES_WORDS = 4
MIN_TERM_PRODUCTS = 20
MIN_TERM_SHARE = 0.9
MIN_HEAD_SHARE = 0.3
_TITLE_PARTS = re.compile(r" - |, |: | for | compatible | size ")


def _is_name(word: str) -> bool:
    return any(ch.isupper() or ch.isdigit() for ch in word)


def mine_series(documents: Iterable[dict[str, Any]], brands: set[str]) -> dict[str, SeriesName]:
    counts: Counter[tuple[str, str]] = Counter()
    brand_words = {brand: brand.split() for brand in brands}
    for doc in documents:
        words = (doc.get("title") or "").replace(",", " ").split()
        values = {normalize(str(v)) for v in (doc.get("attributes") or {}).values()}
        found: set[tuple[str, str]] = set()
        for brand, parts in brand_words.items():
            for start in range(len(words) - len(parts) + 1):
                if words[start : start + len(parts)] != parts:
                    continue
                run: list[str] = []
                for word in words[start + len(parts) : start + len(parts) + MAX_SERIES_WORDS]:
                    if not _is_name(word) or normalize(word) in values or word in brands:
                        break
                    run.append(word.rstrip(":"))
                    if word.endswith(":"):  # "Beneath the Apple Tree: A ..." ends a book's title
                        break
                if run:
                    found.add((brand, " ".join(run)))
        counts.update(found)
    series: dict[str, SeriesName] = {}
    for (brand, name), products in counts.most_common():
        key = " ".join(tokens(normalize(name)))
        if products >= MIN_SERIES_PRODUCTS and key and key not in series:
            series[key] = SeriesName(name=name, brand=brand)
    return series


def title_heads(title: str) -> set[str]:
    """The last word and word pair of a title's first part, quantities dropped: its product noun."""
    for part in _TITLE_PARTS.split(title):
        words = tokens(normalize(part))
        while words:
            if any(ch.isdigit() for ch in words[-1]):
                del words[-1:]
            elif len(words) >= 2 and any(ch.isdigit() for ch in words[-2]):
                del words[-2:]  # a quantity with its unit: "500 pieces", "12 oz"
            else:
                break
        if words:
            return {words[-1], " ".join(words[-2:])}
    return set()


def mine_category_terms(documents: Iterable[dict[str, Any]], excluded: set[str]) -> dict[str, str]:
    """`excluded`: words that are never product terms (brand words, attribute values, series words)."""
    leaves: dict[str, Counter[str]] = defaultdict(Counter)
    heads: Counter[str] = Counter()
    for doc in documents:
        leaf = doc.get("category_lvl3") or doc.get("category_lvl2") or doc.get("category_lvl1")
        if not leaf:
            continue
        title = doc.get("title") or ""
        words = [w for w in tokens(normalize(title)) if w.isalpha() or "-" in w]
        terms = {w for w in words if w not in excluded}
        # A pair may not start with the product's own attribute value ("leather sofa" is a sofa made of
        # leather), but may hold another attribute word ("green tea", "face cream").
        own = {w for value in (doc.get("attributes") or {}).values() for w in tokens(normalize(str(value)))}
        terms |= {f"{a} {b}" for a, b in itertools.pairwise(words) if a not in own}
        for term in terms:
            leaves[term][leaf] += 1
        heads.update(title_heads(title) & terms)
    named: dict[str, str] = {}
    for term, by_leaf in leaves.items():
        total = sum(by_leaf.values())
        leaf, products = by_leaf.most_common(1)[0]
        if (
            total >= MIN_TERM_PRODUCTS
            and products / total >= MIN_TERM_SHARE
            and heads[term] / total >= MIN_HEAD_SHARE
        ):
            named[term] = leaf
    return named


def category_attributes(documents: Iterable[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for doc in documents:
        for level in ("category_lvl1", "category_lvl2", "category_lvl3"):
            if name := doc.get(level):
                for key, value in (doc.get("attributes") or {}).items():
                    found[name][key].add(normalize(str(value)))
    return {
        name: {key: sorted(values) for key, values in keys.items()} for name, keys in sorted(found.items())
    }


def title_words(documents: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Brand and category name (any level) -> the words of its products' titles: what a brand or a
    category calls its products, so "stanley hammer" is no Stanley product when Stanley's titles
    never say hammer, and "sofa cover" no sofa when sofas' titles never say cover."""
    found: dict[str, set[str]] = defaultdict(set)
    for doc in documents:
        words = {w for w in tokens(normalize(doc.get("title") or "")) if w.isalpha()}
        for field in ("brand", "category_lvl1", "category_lvl2", "category_lvl3"):
            if name := doc.get(field):
                found[name] |= words
    return {name: sorted(words) for name, words in sorted(found.items())}

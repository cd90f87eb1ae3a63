"""Numbers a shopper types as constraints, not as words: prices, ratings and units.

"dress under 30" searches "dress" with price <= 30; "5 star rated blender" searches "blender" with
a rating of at least 4.5 (a rating that rounds to five stars); "55 inch tv" and "256gb iphone" become
the catalog's attribute values ("55-inch", "256GB") when exactly one attribute has that value, and are
left in the text otherwise. Each is reported in `query.applied_filters` with the words it came from, so
a frontend can show a removable chip (docs/query-understanding.md#numbers-and-units).

Rules, over normalized words:
- price bounds need a trigger word: under, below, less than, cheaper than, up to, max, within (upper);
  over, above, more than, at least, min, from (lower); between A and B, A to B (range); "dollars",
  "usd" or "bucks" after the number is allowed and dropped. A bare number is never a price ("iphone
  15", "size 10").
- ratings: "N star(s)" with "rated", "and up", "or more" or "plus" around it, or "rated N and
  above", "at least N stars"; N = 5 means 4.5 and up.
- units: a number followed by a unit word, or written together ("55in", "256gb"), is matched against
  the catalog's attribute values by number and unit; a unit that is in no attribute stays text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from quarry.understanding.schemas import AppliedFilter

UPPER = {("under",), ("below",), ("less", "than"), ("cheaper", "than"), ("up", "to")}
LOWER = {("over",), ("above",), ("more", "than"), ("at", "least")}
# Words that bound a price only with a currency after the number: "max 90" is an Air Max 90, "from 2020"
# a year, "within 2" days.
WEAK_UPPER = {("max",), ("within",)}
WEAK_LOWER = {("min",), ("from",)}
# After these a number is an age ("toys for kids under 5", "vitamins for women over 50").
PEOPLE = {
    "kids",
    "kid",
    "children",
    "child",
    "boys",
    "girls",
    "men",
    "mens",
    "women",
    "womens",
    "adults",
    "toddlers",
    "toddler",
    "baby",
    "babies",
    "teens",
    "seniors",
    "ages",
    "age",
    "dogs",
    "cats",
}
DURATIONS = {"years", "year", "yrs", "yr", "months", "month", "weeks", "days", "hours"}
CURRENCY = {"dollars", "dollar", "usd", "bucks", "$"}
STAR_WORDS = {"star", "stars"}
RATED_AFTER = {
    ("and", "up"),
    ("or", "more"),
    ("and", "above"),
    ("or", "higher"),
    ("plus",),
    ("up",),
    ("rated",),
}
FIVE_STARS = 4.5
# Unit words as shoppers type them -> the unit as catalog values write it.
UNITS = {
    "inch": "inch",
    "inches": "inch",
    "in": "inch",
    '"': "inch",
    "gb": "gb",
    "tb": "tb",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "l": "l",
    "liter": "l",
    "liters": "l",
    "litre": "l",
    "qt": "qt",
    "quart": "qt",
    "quarts": "qt",
    "cm": "cm",
    "mm": "mm",
    "ml": "ml",
    "ft": "ft",
    "feet": "ft",
    "w": "w",
    "watt": "w",
    "watts": "w",
    "lb": "lb",
    "lbs": "lb",
    "pieces": "pieces",
    "piece": "pieces",
    "pc": "pieces",
    "person": "person",
}
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_GLUED = re.compile(r"^(\d+(?:\.\d+)?)-?([a-z\"]+)$")


def _number(word: str) -> float | None:
    return float(word) if _NUMBER.match(word) else None


class UnitIndex:
    """Catalog attribute values by (number, unit): ("55", "inch") -> [("screen", "55-inch")]."""

    def __init__(self, attributes: dict[str, list[str]]) -> None:
        self._values: dict[tuple[float, str], list[tuple[str, str]]] = {}
        for key, values in attributes.items():
            for value in values:
                parsed = _value_unit(value)
                if parsed is not None:
                    self._values.setdefault(parsed, []).append((key, value))

    def lookup(self, number: float, unit: str) -> list[tuple[str, str]]:
        return self._values.get((number, unit), [])


def _value_unit(value: str) -> tuple[float, str] | None:
    """ "55-inch" -> (55, inch), "256gb" -> (256, gb), "32 oz" -> (32, oz), "1.5l" -> (1.5, l)."""
    compact = value.replace(" ", "")
    match = _GLUED.match(compact)
    if not match:
        return None
    unit = UNITS.get(match.group(2))
    return (float(match.group(1)), unit) if unit else None


class Match(msgspec.Struct, frozen=True):
    """Words [start, end) of the query read as `filters` (a range gives two)."""

    start: int
    end: int
    filters: tuple[AppliedFilter, ...]

    @property
    def unit_key(self) -> str | None:
        field = self.filters[0].field
        return field.removeprefix("attributes.") if field.startswith("attributes.") else None


class Parsed(msgspec.Struct, frozen=True):
    words: tuple[str, ...]
    filters: tuple[AppliedFilter, ...]
    matches: tuple[Match, ...] = ()


def _starts(words: list[str], at: int, phrases: Iterable[tuple[str, ...]]) -> int:
    """The length of the phrase of `phrases` that starts at words[at], 0 if none."""
    return max((len(p) for p in phrases if tuple(words[at : at + len(p)]) == p), default=0)


def parse(words: list[str], units: UnitIndex) -> Parsed:
    """Every numeric expression of the query; `words` and `filters` as if all were applied (a caller
    may keep fewer: `apply`)."""
    matches: list[Match] = []
    i = 0
    while i < len(words):
        found = _price(words, i) or _rating(words, i) or _unit(words, i, units)
        if found is None:
            i += 1
            continue
        length, applied = found
        matches.append(Match(i, i + length, tuple(applied)))
        i += length
    return apply(words, matches)


def apply(words: list[str], matches: Iterable[Match]) -> Parsed:
    """The words without the kept matches, and their filters. Two values of one attribute ("128gb or
    256gb") would be an impossible AND: neither is kept. Nothing left to search ("under 30"): none is."""
    kept = list(matches)
    keys = [m.unit_key for m in kept if m.unit_key]
    kept = [m for m in kept if not m.unit_key or keys.count(m.unit_key) == 1]
    covered = {i for m in kept for i in range(m.start, m.end)}
    remaining = [w for i, w in enumerate(words) if i not in covered]
    if not remaining or not kept:
        return Parsed(words=tuple(words), filters=())
    return Parsed(
        words=tuple(remaining),
        filters=tuple(f for m in kept for f in m.filters),
        matches=tuple(kept),
    )


def _currency_after(words: list[str], at: int) -> int:
    return 1 if at < len(words) and words[at] in CURRENCY else 0


def _price(words: list[str], i: int) -> tuple[int, list[AppliedFilter]] | None:
    if i > 0 and words[i - 1] in PEOPLE:
        return None  # an age, not a price
    if words[i] in ("between", "from") and i + 3 < len(words) and words[i + 2] in ("and", "to"):
        low, high = _number(words[i + 1]), _number(words[i + 3])
        if low is not None and high is not None and low <= high and not _unit_follows(words, i + 4):
            length = 4 + _currency_after(words, i + 4)
            source = " ".join(words[i : i + length])
            return length, [
                AppliedFilter("price", "gte", low, source, "filter"),
                AppliedFilter("price", "lte", high, source, "filter"),
            ]
    for phrases, weak, operator in ((UPPER, WEAK_UPPER, "lte"), (LOWER, WEAK_LOWER, "gte")):
        trigger = _starts(words, i, phrases) or _starts(words, i, weak)
        if not trigger or i + trigger >= len(words):
            continue
        value = _number(words[i + trigger])
        after = i + trigger + 1
        if value is None or _unit_follows(words, after) or _stars_follow(words, after):
            continue
        if after < len(words) and words[after] in DURATIONS:
            continue
        if not _starts(words, i, phrases) and not _currency_after(words, after):
            continue  # "air max 90", "lego from 2020": a weak trigger needs "dollars"
        length = trigger + 1 + _currency_after(words, after)
        return length, [AppliedFilter("price", operator, value, " ".join(words[i : i + length]), "filter")]
    return None


def _unit_follows(words: list[str], at: int) -> bool:
    return at < len(words) and (words[at] in UNITS or words[at] in STAR_WORDS)


def _stars_follow(words: list[str], at: int) -> bool:
    return at < len(words) and words[at] in STAR_WORDS


def _rating(words: list[str], i: int) -> tuple[int, list[AppliedFilter]] | None:
    """ "4 stars and up", "5 star rated", "rated 4 and above", "at least 4 stars" (a "+" is gone by
    now: normalization drops it, so "4+ stars" reads "4 stars" and needs a qualifier like the rest)."""
    lead = 1 if words[i] == "rated" else _starts(words, i, {("at", "least")})
    at = i + lead
    value = _number(words[at]) if at < len(words) else None
    if value is None or not 1 <= value <= 5:
        return None
    end = at + 1
    stars = end < len(words) and words[end] in STAR_WORDS
    end += 1 if stars else 0
    qualifier = _starts(words, end, RATED_AFTER)
    end += qualifier
    if not ((stars and (lead or qualifier)) or (words[i] == "rated" and qualifier)):
        return None  # "4 star blender" alone is no constraint we are sure of
    minimum = FIVE_STARS if value == 5 else value
    return end - i, [AppliedFilter("rating", "gte", minimum, " ".join(words[i:end]), "filter")]


def _unit(words: list[str], i: int, units: UnitIndex) -> tuple[int, list[AppliedFilter]] | None:
    glued = _GLUED.match(words[i])
    if glued and glued.group(2) in UNITS:
        number, unit, length = float(glued.group(1)), UNITS[glued.group(2)], 1
    elif _number(words[i]) is not None and i + 1 < len(words) and words[i + 1] in UNITS:
        number, unit, length = float(words[i]), UNITS[words[i + 1]], 2
    else:
        return None
    matches = units.lookup(number, unit)
    if len(matches) != 1:
        return None  # no attribute has it, or several do: the words stay in the text
    key, value = matches[0]
    return length, [
        AppliedFilter(f"attributes.{key}", "eq", value, " ".join(words[i : i + length]), "filter")
    ]

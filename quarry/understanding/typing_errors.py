"""How likely a typing error is, by kind: the channel of the noisy-channel corrector.

People drop letters, hit a neighbouring key, swap two letters or double one far more often than they
type an unrelated letter; a name that happens to be one unrelated letter away from a word ("johan",
"grantola") is not a typo. Relative rates, in the spirit of Kernighan, Church and Gale's confusion
matrices (1990), with QWERTY neighbours standing in for the full matrices.
"""

from __future__ import annotations

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_OFFSETS = (0.0, 0.25, 0.75)
_VOWELS = set("aeiouy")
# Relative likelihood of one edit of each kind (the commonest is 1).
RATES = {
    "deletion": 1.0,
    "doubling": 1.0,
    "transposition": 1.0,
    "adjacent_substitution": 0.8,
    "adjacent_insertion": 0.8,
    "vowel_substitution": 0.4,
    "substitution": 0.1,
    "insertion": 0.1,
}


def _positions() -> dict[str, tuple[float, float]]:
    return {
        ch: (col + _OFFSETS[row], float(row)) for row, keys in enumerate(_ROWS) for col, ch in enumerate(keys)
    }


_KEYS = _positions()


def adjacent(a: str, b: str) -> bool:
    if a not in _KEYS or b not in _KEYS or a == b:
        return False
    (x1, y1), (x2, y2) = _KEYS[a], _KEYS[b]
    return abs(y1 - y2) <= 1 and abs(x1 - x2) <= 1.0


def edit_kind(typed: str, intended: str) -> str | None:
    """The kind of the single edit that turns `intended` into `typed`; None if it takes more than one."""
    if len(typed) + 1 == len(intended):
        for i in range(len(intended)):
            if intended[:i] + intended[i + 1 :] == typed:
                return (
                    "doubling"
                    if (i > 0 and intended[i - 1] == intended[i])
                    or (i + 1 < len(intended) and intended[i + 1] == intended[i])
                    else "deletion"
                )
        return None
    if len(typed) == len(intended) + 1:
        for i in range(len(typed)):
            if typed[:i] + typed[i + 1 :] == intended:
                extra, neighbours = typed[i], typed[max(0, i - 1) : i] + typed[i + 1 : i + 2]
                if extra in neighbours:
                    return "doubling"
                return "adjacent_insertion" if any(adjacent(extra, n) for n in neighbours) else "insertion"
        return None
    if len(typed) != len(intended):
        return None
    diffs = [i for i, (a, b) in enumerate(zip(typed, intended, strict=True)) if a != b]
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
        i = diffs[0]
        if typed[i] == intended[i + 1] and typed[i + 1] == intended[i]:
            return "transposition"
    if len(diffs) != 1:
        return None
    a, b = typed[diffs[0]], intended[diffs[0]]
    if adjacent(a, b):
        return "adjacent_substitution"
    return "vowel_substitution" if a in _VOWELS and b in _VOWELS else "substitution"


# People rarely get a word's first letter wrong (Yannakoudakis and Fawthrop, 1983, found it in a few per
# cent of misspellings), while brand names often differ from a word just there: "xbox", "kobalt",
# "nespresso".
FIRST_LETTER_RATE = 0.2


def error_rate(typed: str, intended: str, distance: int) -> float:
    """Relative likelihood of typing `typed` for `intended`: one edit by its kind; two edits at the
    average rate each (their kinds are not worth telling apart at that distance); less when the first
    letter differs."""
    if distance == 1:
        kind = edit_kind(typed, intended)
        rate = RATES.get(kind, 0.5) if kind else 0.5
    else:
        rate = 0.5**distance
    if typed[:1] != intended[:1]:
        rate *= FIRST_LETTER_RATE
    return rate

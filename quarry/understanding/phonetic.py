"""A sound key for spelling by ear: "neckliss" and "necklace", "chikin" and "chicken", "loshun" and
"lotion" share one. Shoppers who are unsure of a spelling write what they hear, often more than two
edits away from the word, and the commonest word within two edits is then the wrong one ("jeens" is one
edit from "teens" as from "jeans"). A simplified Metaphone: consonant sounds in order, vowels dropped
after the first letter, doubled letters once.
"""

from __future__ import annotations

import re

# Spellings of one sound, longest first; applied left to right.
_SOUNDS = (
    ("tch", "x"),
    ("sch", "sk"),
    ("tio", "x"),
    ("tia", "x"),
    ("sio", "x"),
    ("cia", "x"),
    ("cio", "x"),
    ("sh", "x"),
    ("ch", "x"),
    ("ph", "f"),
    ("gh", ""),
    ("ck", "k"),
    ("kn", "n"),
    ("wr", "r"),
    ("wh", "w"),
    ("dg", "j"),
    ("qu", "kw"),
    ("ce", "se"),
    ("ci", "si"),
    ("cy", "sy"),
    ("c", "k"),
    ("q", "k"),
    ("x", "ks"),
    ("z", "s"),
)
_PATTERN = re.compile("|".join(re.escape(spelling) for spelling, _ in _SOUNDS))
_SOUND_OF = dict(_SOUNDS)
_VOWELS = set("aeiouy")


def sound_key(word: str) -> str:
    """The consonant skeleton of a word as it sounds; "" for words without letters."""
    letters = "".join(ch for ch in word if ch.isalpha())
    if not letters:
        return ""
    spoken = _PATTERN.sub(lambda match: _SOUND_OF[match.group(0)], letters)
    key = [spoken[0]]
    for ch in spoken[1:]:
        if ch in _VOWELS or ch == key[-1]:
            continue
        key.append(ch)
    return "".join(key)

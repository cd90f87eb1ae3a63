"""Query and catalog text normalization, shared by the API (at request time) and the pipelines that
build dictionaries from the catalog, so both sides agree on what a token is."""

from __future__ import annotations

import re
import unicodedata

# Controls, format characters, surrogates, private use and unassigned code points never belong in a query.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Inside a word these join (t-shirt, levi's, 7.5, h&m); anywhere else they are noise.
_JOINERS = "-'.&"
_NOT_WORD_OR_JOINER = re.compile(rf"[^\w\s{re.escape(_JOINERS)}]|_")
_LONE_JOINER = re.compile(rf"(?<![^\W_])[{re.escape(_JOINERS)}]+|[{re.escape(_JOINERS)}]+(?![^\W_])")
_REPEATED_JOINER = re.compile(rf"([{re.escape(_JOINERS)}])[{re.escape(_JOINERS)}]+")
_SPACES = re.compile(r"\s+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TOKEN = re.compile(rf"[^\W_]+(?:[{re.escape(_JOINERS)}][^\W_]+)*")


def normalize(text: str) -> str:
    """NFKC, case folding, control characters stripped, punctuation and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _THOUSANDS.sub("", text)  # "$1,000" is one number, not "1 000"
    text = "".join(
        " " if ch in "\t\n\r\x0b\x0c" else ch
        for ch in text
        if ch in "\t\n\r\x0b\x0c" or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    text = _NOT_WORD_OR_JOINER.sub(" ", text)
    text = _REPEATED_JOINER.sub(r"\1", text)
    text = _LONE_JOINER.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """Tokens of already-normalized text."""
    return _TOKEN.findall(text)

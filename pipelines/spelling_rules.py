"""A merchandiser's spelling overrides: `synonyms/spelling/protected.txt` (one word a line) and
`synonyms/spelling/corrections.txt` (`typed => corrected`). Read by `make vocabulary` into the
query-understanding artifact, and checked by `make synonyms-check`, with errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import msgspec

from quarry.text import normalize, tokens
from quarry.vocabulary import SpellingRules

SPELLING_DIR = Path(__file__).resolve().parent.parent / "synonyms" / "spelling"
PROTECTED_FILE = "protected.txt"
CORRECTIONS_FILE = "corrections.txt"
MAX_PHRASE_WORDS = 3


class SpellingRuleIssue(msgspec.Struct, frozen=True):
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _lines(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    numbered = enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
    return [(n, line.strip()) for n, line in numbered if line.strip() and not line.lstrip().startswith("#")]


def load_spelling_rules(directory: Path = SPELLING_DIR) -> tuple[SpellingRules, list[SpellingRuleIssue]]:
    issues: list[SpellingRuleIssue] = []
    protected: list[str] = []
    name = f"{directory.name}/{PROTECTED_FILE}"
    for number, line in _lines(directory / PROTECTED_FILE):
        words = tokens(normalize(line))
        if len(words) != 1:
            issues.append(SpellingRuleIssue(name, number, f"one word per line, got {line!r}"))
            continue
        protected.append(words[0])
    corrections: dict[str, str] = {}
    name = f"{directory.name}/{CORRECTIONS_FILE}"
    for number, line in _lines(directory / CORRECTIONS_FILE):
        typed, arrow, corrected = line.partition("=>")
        source, target = " ".join(tokens(normalize(typed))), " ".join(tokens(normalize(corrected)))
        if not arrow or not source or not target:
            issues.append(SpellingRuleIssue(name, number, f"expected 'typed => corrected', got {line!r}"))
        elif len(source.split()) > MAX_PHRASE_WORDS:
            issues.append(SpellingRuleIssue(name, number, f"at most {MAX_PHRASE_WORDS} words left of '=>'"))
        elif source == target:
            issues.append(SpellingRuleIssue(name, number, f"{source!r} is corrected to itself"))
        elif source in corrections:
            issues.append(SpellingRuleIssue(name, number, f"{source!r} has a correction already"))
        elif source in protected:
            issues.append(SpellingRuleIssue(name, number, f"{source!r} is also protected"))
        else:
            corrections[source] = target
    return SpellingRules(protected=tuple(sorted(set(protected))), corrections=corrections), issues

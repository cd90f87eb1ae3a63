"""Parsing and validation of Solr-format synonym files.

Every problem names its file and line, because the people who edit these files are merchandisers
reading a terminal, not engineers reading a stack trace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import msgspec

ARROW = "=>"


class SynonymRule(msgspec.Struct, frozen=True):
    file: str
    line: int
    text: str
    left: tuple[str, ...]
    right: tuple[str, ...] | None  # None: an equivalence ("a, b, c"); else an explicit mapping

    @property
    def terms(self) -> tuple[str, ...]:
        return self.left + (self.right or ())

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
        """Order-insensitive identity, for finding duplicates written differently."""
        return tuple(sorted(self.left)), None if self.right is None else tuple(sorted(self.right))


class SynonymIssue(msgspec.Struct, frozen=True):
    file: str
    line: int
    severity: str  # "error" blocks apply; "warning" is shown and allowed
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


def normalize_term(term: str) -> str:
    return re.sub(r"\s+", " ", term.strip().lower())


def _split_terms(side: str) -> list[str]:
    return [normalize_term(term) for term in side.split(",")]


def parse_line(file: str, number: int, raw: str) -> SynonymRule | SynonymIssue | None:
    """One line: None for blanks and comments, a rule, or the syntax error that stops it."""
    text = raw.strip()
    if not text or text.startswith("#"):
        return None
    if "#" in text:
        # OpenSearch reads '#' inside a rule as part of a term, which is never what an editor meant.
        return SynonymIssue(file, number, "error", "'#' starts a comment only at the start of a line")
    if text.count(ARROW) > 1:
        return SynonymIssue(file, number, "error", f"more than one '{ARROW}' in a rule")
    if ARROW in text:
        left_text, right_text = text.split(ARROW)
        left, right = _split_terms(left_text), _split_terms(right_text)
        if not left_text.strip() or not right_text.strip():
            side = "left" if not left_text.strip() else "right"
            return SynonymIssue(file, number, "error", f"nothing on the {side} of '{ARROW}'")
    else:
        left, right = _split_terms(text), None
    for term in left + (right or []):
        if not term:
            return SynonymIssue(
                file, number, "error", "empty term (two commas in a row, or a trailing comma)"
            )
    rule = SynonymRule(file, number, text, tuple(left), None if right is None else tuple(right))
    return rule


def _rule_problems(rule: SynonymRule) -> list[SynonymIssue]:
    problems = []
    if rule.right is None:
        if len(rule.left) < 2:
            problems.append(
                SynonymIssue(rule.file, rule.line, "error", "an equivalence needs at least two terms")
            )
        repeated = sorted({t for t in rule.left if rule.left.count(t) > 1})
        if repeated:
            problems.append(
                SynonymIssue(rule.file, rule.line, "error", f"term mapped to itself: {', '.join(repeated)}")
            )
    else:
        itself = sorted(set(rule.left) & set(rule.right))
        if itself:
            problems.append(
                SynonymIssue(rule.file, rule.line, "error", f"term mapped to itself: {', '.join(itself)}")
            )
    return problems


def load_rules(directory: str | Path) -> tuple[list[SynonymRule], list[SynonymIssue]]:
    """All rules of `*.txt` in `directory` (sorted by file name) and every syntax/logic problem."""
    rules: list[SynonymRule] = []
    issues: list[SynonymIssue] = []
    seen: dict[object, SynonymRule] = {}
    for path in sorted(Path(directory).glob("*.txt")):
        name = f"{Path(directory).name}/{path.name}"
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            parsed = parse_line(name, number, raw)
            if parsed is None:
                continue
            if isinstance(parsed, SynonymIssue):
                issues.append(parsed)
                continue
            problems = _rule_problems(parsed)
            issues.extend(problems)
            if problems:
                continue
            first = seen.get(parsed.key)
            if first is not None:
                issues.append(
                    SynonymIssue(name, number, "error", f"duplicate of the rule at {first.file}:{first.line}")
                )
                continue
            seen[parsed.key] = parsed
            rules.append(parsed)
    return rules, issues


def unmatched_term_warnings(
    rules: list[SynonymRule], count_matches: Callable[[str], int]
) -> list[SynonymIssue]:
    """Warn about rules none of whose terms occur in the catalog: a typo, or a rule that can never help.
    (A rule with one catalog term and other shopper words is the normal, useful case.)"""
    warnings = []
    cache: dict[str, int] = {}
    for rule in rules:
        for term in rule.terms:
            if term not in cache:
                cache[term] = count_matches(term)
        missing = [term for term in rule.terms if cache[term] == 0]
        if len(missing) == len(rule.terms):
            warnings.append(
                SynonymIssue(
                    rule.file, rule.line, "warning", f"matches nothing in the catalog: {', '.join(missing)}"
                )
            )
    return warnings


def opensearch_rules(rules: list[SynonymRule]) -> list[str]:
    """Rules in the Solr syntax OpenSearch's synonym_graph filter parses, normalized."""
    out = []
    for rule in rules:
        left = ", ".join(rule.left)
        out.append(left if rule.right is None else f"{left} => {', '.join(rule.right)}")
    return out

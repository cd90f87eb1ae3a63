"""Prefix matching on word starts: "iph" finds "Apple iPhone 15 ..." as well as "iPhone". A sorted
array of (word-start suffix, entry) pairs answers a prefix with two binary searches."""

from __future__ import annotations

import bisect
import time

import msgspec

from api.suggest.schemas import SuggestionItem, SuggestResponse
from quarry.adapters.artifact_store import ArtifactNotFoundError, ArtifactStore
from quarry.text import normalize
from quarry.vocabulary import ARTIFACT, SUGGESTIONS_FILE, Suggestion

MAX_SUGGESTIONS = 10
MAX_CANDIDATES = 5000


class SuggestIndex:
    def __init__(self, suggestions: list[Suggestion]) -> None:
        self._entries = suggestions
        keys: list[tuple[str, int]] = []
        for index, suggestion in enumerate(suggestions):
            text = normalize(suggestion.text)
            starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
            keys.extend((text[s:], index) for s in starts)
        keys.sort()
        self._keys = [k for k, _ in keys]
        self._owners = [i for _, i in keys]

    def lookup(self, prefix: str, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
        left = bisect.bisect_left(self._keys, prefix)
        right = bisect.bisect_left(self._keys, prefix + "\U0010ffff", lo=left)
        owners = sorted(set(self._owners[left : min(right, left + MAX_CANDIDATES)]))  # entries are by weight
        out: list[Suggestion] = []
        seen: set[str] = set()
        for index in owners:
            entry = self._entries[index]
            # Variants ("... - black", "... - blue") collapse into their family's first title.
            family = entry.text.lower().split(" - ")[0]
            if family not in seen:
                seen.add(family)
                out.append(entry)
            if len(out) == limit:
                break
        return out


class SuggestService:
    def __init__(self, store: ArtifactStore, reload_interval_s: float = 30.0) -> None:
        self._store = store
        self._version: str | None = None
        self._index = SuggestIndex([])
        self._reload_interval_s = reload_interval_s
        self._checked_at = float("-inf")

    def _refresh(self) -> None:
        if time.monotonic() - self._checked_at < self._reload_interval_s:
            return
        self._checked_at = time.monotonic()
        version = self._store.current(ARTIFACT)
        if version and version != self._version:
            try:
                suggestions = msgspec.json.decode(
                    self._store.read(ARTIFACT, version, SUGGESTIONS_FILE), type=list[Suggestion]
                )
            except (ArtifactNotFoundError, msgspec.DecodeError):
                return
            self._index, self._version = SuggestIndex(suggestions), version

    def suggest(self, raw: str) -> SuggestResponse:
        self._refresh()
        prefix = normalize(raw)
        matches = self._index.lookup(prefix) if prefix else []
        return SuggestResponse(query=prefix, suggestions=[SuggestionItem(m.text, m.kind) for m in matches])

"""Prefix matching on word starts: "iph" finds "Apple iPhone 15 ..." as well as "iPhone". A sorted
array of (word-start suffix, entry) pairs answers a prefix with two binary searches."""

from __future__ import annotations

import bisect

import msgspec

from api.suggest.schemas import SuggestionItem, SuggestResponse
from quarry.adapters.artifact_store import ArtifactStore
from quarry.hot_artifact import HotArtifact
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
        def load(version: str) -> SuggestIndex:
            raw = store.read(ARTIFACT, version, SUGGESTIONS_FILE)
            return SuggestIndex(msgspec.json.decode(raw, type=list[Suggestion]))

        self._index = HotArtifact(store, ARTIFACT, load, reload_interval_s, SuggestIndex([]))

    def suggest(self, raw: str) -> SuggestResponse:
        prefix = normalize(raw)
        matches = self._index.get().lookup(prefix) if prefix else []
        return SuggestResponse(query=prefix, suggestions=[SuggestionItem(m.text, m.kind) for m in matches])

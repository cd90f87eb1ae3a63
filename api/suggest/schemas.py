from __future__ import annotations

import msgspec


class SuggestionItem(msgspec.Struct):
    text: str
    kind: str


class SuggestResponse(msgspec.Struct):
    query: str
    suggestions: list[SuggestionItem]

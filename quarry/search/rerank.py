"""Stage 4, rerank: score the fused window. Today the Phase-1 formula's shared terms (text,
popularity, freshness; docs/ranking.md); the learned model of docs/ltr.md plugs in here."""

from __future__ import annotations

import datetime as dt

from quarry.search.fuse import CandidateWindow
from quarry.search.ranking import RankedHit, RankingConfig, score_window
from quarry.tracing import span


def rerank(window: CandidateWindow, config: RankingConfig, now: dt.datetime | None = None) -> list[RankedHit]:
    """Best first; ties keep the window's order."""
    if not window.candidates:
        return []
    with span("rank", {"quarry.candidates": len(window.candidates)}):
        return score_window(
            [c.hit for c in window.candidates],
            config,
            now or dt.datetime.now(dt.UTC),
            [c.relevance for c in window.candidates],
        )

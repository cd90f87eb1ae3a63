"""Position-bias exploration: on a small share of searches, the top of the first page is shown with
neighbouring results swapped, so that a product is seen at more than one rank.

Why: a click model separates how likely a rank is to be looked at from how attractive a product is
only when the same product is shown at different ranks. A deterministic ranker never does that: on
the simulated traffic of session 29, 99.9 % of the (query, product) pairs with 20 impressions or more
were always shown at one rank, and the position-based model fitted to them found rank 10 examined
66 % as often as rank 1 where the shoppers looked at it 16 % as often. Its click grades then said
mostly where the formula had put a product, and the learned ranker was judged on the formula's own
order (docs/ltr.md#judgments). Swapping neighbours is the gentlest intervention that identifies the
examination curve (swap interventions, Joachims et al. 2017; Agarwal et al. 2019): every product
moves by at most one place."""

from __future__ import annotations

from typing import Literal, TypeVar

from quarry.canary import bucket

SALT = "position-exploration"
"""Its own salt, so that explored searches are independent of the feature log's sample."""

Phase = Literal[0, 1]
Item = TypeVar("Item")


class PositionExploration:
    def __init__(self, share: float, depth: int) -> None:
        self.share = share
        self.depth = depth

    def phase(self, query_id: str) -> Phase | None:
        """None for a search shown as ranked; else whether the swapped pairs start at rank 1 or 2.
        Decided by the query id alone, so a search's treatment can be recomputed from its record."""
        if self.share <= 0:
            return None
        drawn = bucket(SALT, query_id)
        if drawn >= self.share:
            return None
        return 0 if drawn < self.share / 2 else 1

    def apply(self, items: list[Item], phase: Phase) -> list[Item]:
        """Swap (phase, phase+1), (phase+2, phase+3), … within the top `depth`; the rest stay."""
        shown = list(items)
        for first in range(phase, min(self.depth, len(shown)) - 1, 2):
            shown[first], shown[first + 1] = shown[first + 1], shown[first]
        return shown

from __future__ import annotations

import msgspec

from quarry.experiments.assignment import Assignment


class RecommendedItem(msgspec.Struct):
    product_id: str
    score: float
    reason: str


class RecommendationsResponse(msgspec.Struct):
    strategy: str
    items: list[RecommendedItem]
    user_id: str | None = None
    product_id: str | None = None
    model_version: str | None = None
    model_alias: str | None = None
    """Which registry alias served a personal answer: `champion`, or `canary` for the canary's share."""
    request_id: str | None = None
    """Send it as the `query_id` of the UBI events this answer leads to (clicks, add-to-carts): that
    is how they are credited to the variant that served it."""
    experiments: list[Assignment] = msgspec.field(default_factory=list)
    """The shopper's recommendation experiments and variants, for a frontend that reports them."""
    teams: list[str] = msgspec.field(default_factory=list)
    """In an interleaving experiment (strategy `interleaved`): the variant whose answer placed each
    item, in the items' order; a click on an item is a vote for its variant."""

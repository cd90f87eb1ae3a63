"""Stage 1, understand: the query as the shopper meant it (normalized, corrected, entities, the
constraints its words state), and the request those constraints narrow."""

from __future__ import annotations

import msgspec

from quarry.search.schemas import SearchRequest
from quarry.understanding.schemas import AppliedFilter, UnderstoodQuery
from quarry.understanding.services import QueryUnderstanding


def understand(
    understanding: QueryUnderstanding, text: str, already: UnderstoodQuery | None = None
) -> UnderstoodQuery:
    """`already`: the query as the event loop understood it (no reload there): only check for a new
    vocabulary, so the page key and the page come from the same one from the next request on."""
    if already is None:
        return understanding.understand(text)
    understanding.reload_if_due()
    return already


def without_sources(text: str, filters: tuple[AppliedFilter, ...]) -> str:
    """The text without the words each filter was read from."""
    padded = f" {text} "
    for applied in filters:
        padded = padded.replace(f" {applied.source} ", " ")
    return " ".join(padded.split()) or text


def with_query_filters(request: SearchRequest, filters: tuple[AppliedFilter, ...]) -> SearchRequest:
    """The request with the query's own constraints added: the tighter bound wins where the request has
    one too ("dress under 30" with price_max=50 searches up to 30)."""
    if not filters:
        return request
    price_min, price_max, rating_min = request.price_min, request.price_max, request.rating_min
    attributes = list(request.attributes)
    for applied in filters:
        if applied.field == "price" and isinstance(applied.value, float):
            if applied.operator == "gte":
                price_min = max(price_min or 0.0, applied.value)
            else:
                price_max = applied.value if price_max is None else min(price_max, applied.value)
        elif applied.field == "rating" and isinstance(applied.value, float):
            rating_min = max(rating_min or 0.0, applied.value)
        elif applied.field.startswith("attributes."):
            attributes.append((applied.field.removeprefix("attributes."), str(applied.value)))
    return msgspec.structs.replace(
        request,
        price_min=price_min,
        price_max=price_max,
        rating_min=rating_min,
        attributes=tuple(dict.fromkeys(attributes)),
    )

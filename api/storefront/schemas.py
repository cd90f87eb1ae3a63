"""What the storefront's templates render: one Struct per page, built by the service from the search
core's answers, so a template only lays out values and never decides anything."""

from __future__ import annotations

import msgspec

from quarry.experiments.assignment import Assignment


class Link(msgspec.Struct, frozen=True):
    label: str
    href: str
    count: int | None = None
    selected: bool = False


class FacetGroup(msgspec.Struct, frozen=True):
    name: str
    label: str
    links: list[Link]


class Chip(msgspec.Struct, frozen=True):
    """A filter in force, with the link that removes it: a request filter, or one read from the
    query's words ("under 30"), removed by searching without those words."""

    label: str
    remove_href: str
    from_query: bool = False


class ProductCard(msgspec.Struct, frozen=True):
    product_id: str
    title: str
    brand: str
    category: str
    price: str
    rating: float | None
    in_stock: bool
    href: str
    position: int
    """1-based rank in the list it was shown in: the events' `position.ordinal`."""


class Shelf(msgspec.Struct, frozen=True):
    """A list of recommended products and what produced it, so its clicks are credited to it."""

    title: str
    strategy: str
    request_id: str | None
    cards: list[ProductCard]


class Visitor(msgspec.Struct, frozen=True):
    """Who is browsing, as the page's script reports events for them: the storefront's public key
    (embedded in the page by design: it can search, recommend and send events, nothing else)."""

    session_id: str
    client_id: str
    api_key: str | None


class HomePage(msgspec.Struct, frozen=True):
    visitor: Visitor
    recommended: Shelf | None


class SearchPage(msgspec.Struct, frozen=True):
    visitor: Visitor
    query: str
    query_id: str
    total: int
    cards: list[ProductCard]
    facets: list[FacetGroup]
    chips: list[Chip]
    sort_links: list[Link]
    pages: list[Link]
    previous: Link | None
    next: Link | None
    did_you_mean: Link | None
    corrected: str | None
    related_only: bool
    """Nothing matched the query: the cards are related products, said so above them."""
    experiments: list[Assignment]


class ProductPage(msgspec.Struct, frozen=True):
    visitor: Visitor
    product_id: str
    title: str
    brand: str
    category_path: str
    description: str
    attributes: list[tuple[str, str]]
    price: str
    rating: float | None
    review_count: int
    in_stock: bool
    query_id: str | None
    """The search (or recommendation request) this visit came from: its add-to-cart and purchase
    events carry it, closing the loop from search to purchase."""
    position: int | None
    similar: Shelf | None
    recommended: Shelf | None

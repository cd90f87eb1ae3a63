"""Builds the storefront's pages from the search core, the recommendations and the catalog: the
same services the JSON API answers with, so what a shopper sees here is what a frontend would get."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

import msgspec

from api.products.schemas import ProductDetail
from api.products.services import ProductService
from api.recommendations.schemas import RecommendationsResponse
from api.recommendations.services import RecommendationService, UnknownProductError
from api.storefront.schemas import (
    Chip,
    FacetGroup,
    HomePage,
    Link,
    ProductCard,
    ProductPage,
    SearchPage,
    Shelf,
    Visitor,
)
from quarry.api_keys import NO_FILTERS, FixedFilters
from quarry.privacy import Consent
from quarry.search.query_builder import FACET_ATTRIBUTES
from quarry.search.schemas import SearchRequest, SearchResponse, SearchResult, SortOrder, UbiRequest
from quarry.search.service import SearchService
from quarry.understanding.schemas import AppliedFilter

log = logging.getLogger("quarry.storefront")
APPLICATION = "storefront"
PAGE_SIZE = 24
MAX_PAGE = 10_000 // PAGE_SIZE
"""The deepest page: the search core pages at most 10,000 results deep."""
SHELF_SIZE = 8
PAGE_LINKS = 7
"""Numbered page links shown around the current one."""
SEARCH_PATH = "/ui/search"
PRODUCT_PATH = "/ui/products/"
SORT_LABELS: dict[SortOrder, str] = {
    "relevance": "Best match",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "rating": "Top rated",
    "newest": "Newest",
}
OPERATOR_LABELS = {"gte": "at least", "lte": "up to", "eq": ""}


def href(query: SearchRequest, **changes: object) -> str:
    """A results page's address: `query` (the page's own) with `changes`; any change but the page
    number starts at page 1. Every link on a results page is made here."""
    changed = msgspec.structs.replace(query, **({"page": 1} | changes))
    params: list[tuple[str, str]] = [("q", changed.q)]
    if changed.category:
        params.append(("category", changed.category))
    params += [("brand", brand) for brand in changed.brand]
    for name in ("price_min", "price_max", "rating_min"):
        value = getattr(changed, name)
        if value is not None:
            params.append((name, f"{value:g}"))
    if changed.in_stock is not None:
        params.append(("in_stock", "true" if changed.in_stock else "false"))
    params += list(changed.attributes)
    if changed.sort != "relevance":
        params.append(("sort", changed.sort))
    if changed.page > 1:
        params.append(("page", str(changed.page)))
    return f"{SEARCH_PATH}?{urlencode(params)}"


def money(price: float | None) -> str:
    return f"${price:,.2f}" if price is not None else "Price on request"


def card(result: SearchResult | ProductDetail, position: int, query_id: str | None) -> ProductCard:
    category = result.category if isinstance(result, SearchResult) else result.category_path
    params = urlencode({"query_id": query_id, "position": position}) if query_id else ""
    return ProductCard(
        product_id=result.product_id,
        title=result.title,
        brand=result.brand,
        category=category.split(" > ")[-1],
        price=money(result.price),
        rating=result.rating,
        in_stock=result.in_stock,
        href=PRODUCT_PATH + quote(result.product_id, safe="") + (f"?{params}" if params else ""),
        position=position,
    )


def _price_bounds(bucket: str) -> tuple[float | None, float | None]:
    """A price facet's value ("25-50", "1000+") as the filter's bounds."""
    if bucket.endswith("+"):
        return float(bucket[:-1]), None
    low, _, high = bucket.partition("-")
    return (float(low) or None), float(high)


def facet_groups(query: SearchRequest, response: SearchResponse) -> list[FacetGroup]:
    facets = response.facets
    groups = [
        FacetGroup(
            "category",
            "Category",
            [
                Link(
                    leaf,
                    href(query, category=None if leaf == query.category else leaf),
                    value.count,
                    leaf == query.category,
                )
                for value in facets.category
                for leaf in [value.value.split(" > ")[-1]]
            ],
        ),
        FacetGroup(
            "brand",
            "Brand",
            [
                Link(
                    value.value,
                    href(
                        query,
                        brand=tuple(b for b in query.brand if b != value.value)
                        if value.value in query.brand
                        else (*query.brand, value.value),
                    ),
                    value.count,
                    value.value in query.brand,
                )
                for value in facets.brand
            ],
        ),
    ]
    price_links = []
    for value in facets.price:
        low, high = _price_bounds(value.value)
        chosen = (query.price_min, query.price_max) == (low, high)
        label = f"${low or 0:g} – ${high:g}" if high is not None else f"${low:g} and up"
        target = (
            href(query, price_min=None, price_max=None)
            if chosen
            else href(query, price_min=low, price_max=high)
        )
        price_links.append(Link(label, target, value.count, chosen))
    groups.append(FacetGroup("price", "Price", price_links))
    for name in FACET_ATTRIBUTES:
        values = facets.attributes.get(name, [])
        chosen_values = {value for key, value in query.attributes if key == name}
        groups.append(
            FacetGroup(
                name,
                name.capitalize(),
                [
                    Link(
                        value.value,
                        href(
                            query,
                            attributes=tuple(p for p in query.attributes if p != (name, value.value))
                            if value.value in chosen_values
                            else (*query.attributes, (name, value.value)),
                        ),
                        value.count,
                        value.value in chosen_values,
                    )
                    for value in values
                ],
            )
        )
    in_stock = next((v.count for v in facets.in_stock if v.value == "true"), 0)
    groups.append(
        FacetGroup(
            "in_stock",
            "Availability",
            [
                Link(
                    "In stock",
                    href(query, in_stock=None if query.in_stock else True),
                    in_stock,
                    bool(query.in_stock),
                )
            ],
        )
    )
    return [group for group in groups if group.links]


def _applied_label(applied: AppliedFilter) -> str:
    field = applied.field.removeprefix("attributes.")
    value = (
        f"${applied.value:g}" if field == "price" and isinstance(applied.value, float) else str(applied.value)
    )
    if field == "rating" and isinstance(applied.value, float):
        value = f"{applied.value:g}★"
    return " ".join(
        part for part in (field.capitalize(), OPERATOR_LABELS.get(applied.operator, ""), value) if part
    )


def _without_words(query: str, words: str) -> str:
    """The query without the words a filter was read from ("Sofa under 500" → "Sofa"), matched
    whatever their case; the query unchanged when they are not in it as typed."""
    start = query.lower().find(words.lower())
    if start < 0 or not words:
        return query
    remaining = query[:start] + " " + query[start + len(words) :]
    return " ".join(remaining.split()) or query


def chips(query: SearchRequest, response: SearchResponse) -> list[Chip]:
    found = []
    if query.category:
        found.append(Chip(f"Category: {query.category}", href(query, category=None)))
    found += [
        Chip(f"Brand: {brand}", href(query, brand=tuple(b for b in query.brand if b != brand)))
        for brand in query.brand
    ]
    if query.price_min is not None or query.price_max is not None:
        low, high = query.price_min or 0, query.price_max
        label = f"Price: ${low:g} – ${high:g}" if high is not None else f"Price: ${low:g} and up"
        found.append(Chip(label, href(query, price_min=None, price_max=None)))
    if query.rating_min is not None:
        found.append(Chip(f"Rating: {query.rating_min:g}★ and up", href(query, rating_min=None)))
    if query.in_stock:
        found.append(Chip("In stock", href(query, in_stock=None)))
    found += [
        Chip(
            f"{name.capitalize()}: {value}",
            href(query, attributes=tuple(p for p in query.attributes if p != (name, value))),
        )
        for name, value in query.attributes
    ]
    found += [
        Chip(_applied_label(applied), href(query, q=_without_words(query.q, applied.source)), from_query=True)
        for applied in response.query.applied_filters
    ]
    return found


def page_links(query: SearchRequest, total: int) -> tuple[list[Link], Link | None, Link | None]:
    last = max(1, min((total + PAGE_SIZE - 1) // PAGE_SIZE, MAX_PAGE))
    first = max(1, min(query.page - PAGE_LINKS // 2, last - PAGE_LINKS + 1))
    numbers = range(first, min(last, first + PAGE_LINKS - 1) + 1)
    links = [Link(str(n), href(query, page=n), selected=n == query.page) for n in numbers]
    previous = Link("Previous", href(query, page=query.page - 1)) if query.page > 1 else None
    following = Link("Next", href(query, page=query.page + 1)) if query.page < last else None
    return links, previous, following


class StorefrontService:
    def __init__(
        self,
        search: SearchService,
        recommendations: RecommendationService,
        products: ProductService,
        api_key: str | None,
    ) -> None:
        """`api_key`: the storefront's public key, which the pages' script sends with its events
        and suggestion requests (None with QUARRY_AUTH=off)."""
        self.search_service = search
        self.recommendations = recommendations
        self.products = products
        self.api_key = api_key

    def visitor(self, session_id: str, client_id: str) -> Visitor:
        return Visitor(session_id, client_id, self.api_key)

    def search_request(
        self, query: SearchRequest, visitor: Visitor, consent: Consent, fixed: FixedFilters
    ) -> SearchRequest:
        """The page's search as the visitor's: their session and (pseudonymized) client, their
        consent, the storefront key's fixed filters, logged as the storefront's."""
        shopper = self.search_service.privacy.shopper(None, visitor.client_id, consent)
        return msgspec.structs.replace(
            query,
            session_id=visitor.session_id,
            personalize=shopper.consent.personalization,
            track=shopper.consent.tracking,
            ubi=UbiRequest(client_id=shopper.client, application=APPLICATION),
            fixed=fixed,
        )

    def search_page(self, query: SearchRequest, visitor: Visitor, response: SearchResponse) -> SearchPage:
        offset = (query.page - 1) * PAGE_SIZE
        pages, previous, following = page_links(query, response.total)
        asked = response.query
        suggestion = asked.did_you_mean
        return SearchPage(
            visitor=visitor,
            query=query.q,
            query_id=response.query_id,
            total=response.total,
            cards=[card(r, offset + i, response.query_id) for i, r in enumerate(response.results, 1)],
            facets=facet_groups(query, response),
            chips=chips(query, response),
            sort_links=[
                Link(label, href(query, sort=order), selected=order == query.sort)
                for order, label in SORT_LABELS.items()
            ],
            pages=pages,
            previous=previous,
            next=following,
            did_you_mean=Link(suggestion, href(query, q=suggestion)) if suggestion else None,
            corrected=asked.corrected if asked.corrected and asked.corrected != asked.normalized else None,
            related_only=response.match_quality == "none",
            experiments=response.experiments,
        )

    def _shelf_or_none(
        self, title: str, answer: Callable[[], RecommendationsResponse], fixed: FixedFilters
    ) -> Shelf | None:
        """A shelf is a page's extra: when recommendations fail, the page shows without it (logged)."""
        try:
            return self.shelf(title, answer(), fixed)
        except UnknownProductError:  # not in the vector index yet (a product added since the last build)
            return None
        except Exception:
            log.exception("a storefront shelf failed; the page is shown without it", extra={"shelf": title})
            return None

    def shelf(self, title: str, answer: RecommendationsResponse, fixed: FixedFilters) -> Shelf | None:
        details = self.products.many([item.product_id for item in answer.items], fixed)
        if not details:
            return None
        cards = [card(detail, i, answer.request_id) for i, detail in enumerate(details, 1)]
        return Shelf(title, answer.strategy, answer.request_id, cards)

    def recommended(self, visitor: Visitor, consent: Consent, fixed: FixedFilters) -> Shelf | None:
        """For an anonymous visitor: the session's neighbours once it has viewed something, else the
        popular (or, before any events, catalog-prior) items; the strategy says which."""
        session = visitor.session_id if consent.personalization else None
        return self._shelf_or_none(
            "Recommended for you",
            lambda: self.recommendations.for_user(None, SHELF_SIZE, None, session, track=consent.tracking),
            fixed,
        )

    def home(self, visitor: Visitor, consent: Consent, fixed: FixedFilters = NO_FILTERS) -> HomePage:
        return HomePage(visitor, self.recommended(visitor, consent, fixed))

    def product_page(
        self,
        product_id: str,
        visitor: Visitor,
        consent: Consent,
        fixed: FixedFilters,
        query_id: str | None,
        position: int | None,
    ) -> ProductPage | None:
        product = self.products.get(product_id, fixed)
        if product is None:
            return None
        similar = self._shelf_or_none(
            "Similar items", lambda: self.recommendations.similar(product_id, SHELF_SIZE), fixed
        )
        return ProductPage(
            visitor=visitor,
            product_id=product.product_id,
            title=product.title,
            brand=product.brand,
            category_path=product.category_path,
            description=product.description,
            attributes=sorted(product.attributes.items()),
            price=money(product.price),
            rating=product.rating,
            review_count=product.review_count,
            in_stock=product.in_stock,
            query_id=query_id,
            position=position,
            similar=similar,
            recommended=self.recommended(visitor, consent, fixed),
        )

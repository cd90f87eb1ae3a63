from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException, ValidationException
from litestar.openapi.spec import Example
from litestar.params import Parameter

from api.dependencies import from_state
from api.examples import PROBLEM_400, PROBLEM_409, PROBLEM_429, SEARCH, example_responses
from api.privacy.dependencies import request_consent
from api.security.auth import caller_of
from api.security.users import request_user
from quarry.search.client_ids import ubi_request
from quarry.search.schemas import SearchRequest, SearchResponse, SortOrder
from quarry.search.service import SearchService

KNOWN_PARAMETERS = {
    "q",
    "page",
    "size",
    "category",
    "brand",
    "price_min",
    "price_max",
    "rating_min",
    "in_stock",
    "sort",
    "user_id",
    "session_id",
    "explain",
    "query_id",
    "client_id",
    "application",
    "query_attributes",
}
# The UBI spec's id rules (at most 100 characters), in the characters ids are made of.
ID_PATTERN = r"^[\w.:@/-]*$"
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
MAX_RAW_QUERY = 1024


ATTRIBUTE_PREFIX = "attr."
# Each filter value is a term of the OpenSearch query: bounded, so a request cannot make one huge.
MAX_FILTER_VALUES = 20
MAX_FILTER_VALUE_LENGTH = 100


def bounded_values(name: str, values: list[str]) -> None:
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationException(f"at most {MAX_FILTER_VALUES} {name} values per search, not {len(values)}")
    for value in values:
        if not 1 <= len(value) <= MAX_FILTER_VALUE_LENGTH:
            raise ValidationException(f"a {name} value must be 1-{MAX_FILTER_VALUE_LENGTH} characters")


def attribute_filters(request: Request[Any, Any, Any], allowed: set[str]) -> tuple[tuple[str, str], ...]:
    """Query parameters that are not Quarry's own are attribute filters (`color=red`, or `attr.size=10`
    for attributes whose name a search parameter already uses), but only for attributes the catalog
    has: a typo like `colour=red` is an error, not a silent zero-result filter."""
    filters = []
    for raw_key, value in request.query_params.multi_items():
        if raw_key in KNOWN_PARAMETERS:
            continue
        key = raw_key.removeprefix(ATTRIBUTE_PREFIX)
        if key not in allowed:
            raise ValidationException(
                f"unknown query parameter {raw_key!r}; attribute filters are: "
                f"{', '.join(sorted(allowed)) or 'none'} (as name=value, or attr.name=value)"
            )
        filters.append((key, value))
    bounded_values("attribute filter", [value for _, value in filters])
    return tuple(sorted(filters))


async def answered(search_service: SearchService, search_request: SearchRequest) -> SearchResponse:
    """Pages this process holds in memory are answered on the event loop; everything that needs
    Redis or OpenSearch (blocking clients) runs in a worker thread."""
    in_memory, understood = search_service.search_in_memory(search_request)
    if in_memory is not None:
        return in_memory
    return await anyio.to_thread.run_sync(search_service.search, search_request, understood)


class SearchController(Controller):
    path = "/v1/search"
    tags = ["search"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"search_service": from_state("search_service")}  # noqa: RUF012
    opt = {"scope": "search", "rate_limit": "search"}  # noqa: RUF012

    @get(
        summary="Search products",
        description="Full-text product search with filters, facets, Phase-1 ranking and explanations. "
        "Any other query parameter naming a catalog attribute is an attribute filter, e.g. `color=red`; "
        "`attr.size=10` filters on the size attribute (plain `size` is the page size).",
        responses=example_responses(SearchResponse, SEARCH, PROBLEM_400, PROBLEM_409, PROBLEM_429),
    )
    async def search(
        self,
        request: Request[Any, Any, Any],
        search_service: NamedDependency[SearchService],
        q: Annotated[
            str,
            Parameter(
                min_length=1,
                max_length=MAX_RAW_QUERY,
                description="The shopper's query (1-256 characters after normalization)",
                examples=[Example(value="red running shoes size 10")],
            ),
        ],
        page: Annotated[int, Parameter(ge=1, le=10_000, examples=[Example(value=1)])] = 1,
        size: Annotated[int, Parameter(ge=1, le=100, examples=[Example(value=20)])] = 20,
        category: Annotated[
            str | None,
            Parameter(
                max_length=200, description="Category at any level", examples=[Example(value="Sneakers")]
            ),
        ] = None,
        brand: Annotated[
            list[str] | None, Parameter(description="Repeatable", examples=[Example(value=["Nike"])])
        ] = None,
        price_min: Annotated[float | None, Parameter(ge=0, examples=[Example(value=20)])] = None,
        price_max: Annotated[float | None, Parameter(ge=0, examples=[Example(value=150)])] = None,
        rating_min: Annotated[
            float | None,
            Parameter(ge=0, le=5, description="Average rating at least", examples=[Example(value=4)]),
        ] = None,
        in_stock: Annotated[bool | None, Parameter(examples=[Example(value=True)])] = None,
        sort: Annotated[SortOrder, Parameter(examples=[Example(value="relevance")])] = "relevance",
        user_id: Annotated[str | None, Parameter(max_length=128, examples=[Example(value="u-123")])] = None,
        session_id: Annotated[
            str | None, Parameter(max_length=128, examples=[Example(value="s-456")])
        ] = None,
        explain: Annotated[bool, Parameter(examples=[Example(value=False)])] = False,
        query_id: Annotated[
            str | None,
            Parameter(
                max_length=100,
                pattern=ID_PATTERN,
                description="The client's id for this search (UBI `ext.ubi.query_id`); one per search, "
                "a retry of the same search may reuse it. Quarry makes one when absent.",
                examples=[Example(value="5b0c7c1e-8a4e-4f3b-9c1d-2f6e7a8b9c0d")],
            ),
        ] = None,
        client_id: Annotated[
            str | None,
            Parameter(
                max_length=100,
                pattern=ID_PATTERN,
                description="The client (browser, app install) searching; the same id its events carry",
                examples=[Example(value="c-9")],
            ),
        ] = None,
        application: Annotated[
            str | None,
            Parameter(
                max_length=100,
                pattern=PRINTABLE_PATTERN,
                description="The application searching (stored on the query record; default quarry)",
                examples=[Example(value="storefront")],
            ),
        ] = None,
        query_attributes: Annotated[
            str | None,
            Parameter(
                max_length=4096,
                description="A JSON object of flat values stored with the query record (UBI "
                "`ext.ubi.query_attributes`), e.g. an experiment id",
                examples=[Example(value='{"experiment_id": "12345"}')],
            ),
        ] = None,
    ) -> SearchResponse:
        caller = caller_of(request)
        if explain and not caller.may("debug"):
            raise PermissionDeniedException("explain=true needs an API key with the 'debug' scope")
        if price_min is not None and price_max is not None and price_min > price_max:
            raise ValidationException("price_min must not exceed price_max")
        bounded_values("brand", brand or [])
        try:
            ubi = ubi_request(query_id, client_id, application, query_attributes)
        except ValueError as exc:
            raise ValidationException(str(exc)) from exc
        shopper = search_service.privacy.shopper(
            request_user(request, user_id), client_id, request_consent(request)
        )
        search_request = SearchRequest(
            q=q,
            page=page,
            size=size,
            category=category,
            brand=tuple(brand or ()),
            price_min=price_min,
            price_max=price_max,
            rating_min=rating_min,
            in_stock=in_stock,
            attributes=attribute_filters(request, search_service.understanding.attribute_keys),
            sort=sort,
            user_id=shopper.user,
            session_id=session_id,
            explain=explain,
            personalize=shopper.consent.personalization,
            track=shopper.consent.tracking,
            ubi=msgspec.structs.replace(ubi, client_id=shopper.client),
            fixed=caller.filters,
        )
        return await answered(search_service, search_request)

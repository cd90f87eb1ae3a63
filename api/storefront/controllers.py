"""The storefront's pages. A browser's navigation carries no API key, so these routes act with the
storefront's public key (`opt["storefront"]`: the gate uses it when the request names none): its
scopes, fixed filters and rate limits apply exactly as to a frontend that sent it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from litestar.response import Redirect, Template

from api.dependencies import from_state
from api.privacy.dependencies import request_consent
from api.search.controllers import ID_PATTERN, MAX_RAW_QUERY, answered, bounded_values
from api.security.auth import caller_of
from api.storefront.services import MAX_PAGE, PAGE_SIZE, StorefrontService
from quarry.search.schemas import SearchRequest, SortOrder

SESSION_COOKIE = "quarry_session"
CLIENT_COOKIE = "quarry_client"
CLIENT_COOKIE_DAYS = 365


def _visitor_ids(request: Request[Any, Any, Any]) -> tuple[str, str, list[Cookie]]:
    """The browser's session and client ids, made (and set as cookies) on its first page. A cookie
    that is not one of ours is replaced, never trusted into the logs."""
    made = []
    ids = []
    for name, max_age in ((SESSION_COOKIE, None), (CLIENT_COOKIE, CLIENT_COOKIE_DAYS * 86_400)):
        value = request.cookies.get(name, "")
        if not (len(value) == 32 and all(c in "0123456789abcdef" for c in value)):
            value = uuid.uuid4().hex
            cookie = Cookie(key=name, value=value, max_age=max_age, path="/ui", samesite="lax", httponly=True)
            made.append(cookie)
        ids.append(value)
    return ids[0], ids[1], made


class StorefrontController(Controller):
    path = "/ui"
    include_in_schema = False
    dependencies = {"storefront": from_state("storefront_service")}  # noqa: RUF012
    opt = {"scope": "search", "rate_limit": "search", "storefront": True}  # noqa: RUF012

    @get("/", sync_to_thread=True)
    def home(
        self, request: Request[Any, Any, Any], storefront: NamedDependency[StorefrontService]
    ) -> Template:
        session_id, client_id, cookies = _visitor_ids(request)
        visitor = storefront.visitor(session_id, client_id)
        page = storefront.home(visitor, request_consent(request), caller_of(request).filters)
        return Template("storefront/home.html", context={"page": page}, cookies=cookies)

    @get("/search")
    async def search(
        self,
        request: Request[Any, Any, Any],
        storefront: NamedDependency[StorefrontService],
        q: Annotated[str, Parameter(max_length=MAX_RAW_QUERY)] = "",
        page: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 1,
        category: Annotated[str | None, Parameter(max_length=200)] = None,
        brand: Annotated[list[str] | None, Parameter(description="Repeatable")] = None,
        price_min: Annotated[float | None, Parameter(ge=0)] = None,
        price_max: Annotated[float | None, Parameter(ge=0)] = None,
        rating_min: Annotated[float | None, Parameter(ge=0, le=5)] = None,
        in_stock: Annotated[bool | None, Parameter()] = None,
        sort: Annotated[SortOrder, Parameter()] = "relevance",
        color: Annotated[list[str] | None, Parameter()] = None,
        size: Annotated[list[str] | None, Parameter()] = None,
        material: Annotated[list[str] | None, Parameter()] = None,
    ) -> Template | Redirect:
        if not q.strip():
            return Redirect("/ui/")
        if price_min is not None and price_max is not None and price_min > price_max:
            raise ValidationException("price_min must not exceed price_max")
        chosen = {"color": color, "size": size, "material": material}
        for name, values in {"brand": brand, **chosen}.items():
            bounded_values(name, values or [])  # the same bounds as /v1/search
        query = SearchRequest(
            q=q,
            page=page,
            size=PAGE_SIZE,
            category=category,
            brand=tuple(brand or ()),
            price_min=price_min,
            price_max=price_max,
            rating_min=rating_min,
            in_stock=in_stock,
            attributes=tuple((name, value) for name, values in chosen.items() for value in values or ()),
            sort=sort,
        )
        session_id, client_id, cookies = _visitor_ids(request)
        visitor = storefront.visitor(session_id, client_id)
        search_request = storefront.search_request(
            query, visitor, request_consent(request), caller_of(request).filters
        )
        response = await answered(storefront.search_service, search_request)
        page_model = storefront.search_page(query, visitor, response)
        return Template("storefront/search.html", context={"page": page_model}, cookies=cookies)

    # Walking the catalog product by product is what the enumeration guard watches, as on /v1/products.
    @get("/products/{product_id:str}", sync_to_thread=True, opt={"enumeration_guarded": True})
    def product(
        self,
        request: Request[Any, Any, Any],
        storefront: NamedDependency[StorefrontService],
        product_id: Annotated[str, Parameter(max_length=128)],
        query_id: Annotated[str | None, Parameter(max_length=100, pattern=ID_PATTERN)] = None,
        position: Annotated[int | None, Parameter(ge=1, le=10_000)] = None,
    ) -> Template:
        session_id, client_id, cookies = _visitor_ids(request)
        visitor = storefront.visitor(session_id, client_id)
        page = storefront.product_page(
            product_id, visitor, request_consent(request), caller_of(request).filters, query_id, position
        )
        if page is None:
            raise NotFoundException(f"no product with id {product_id!r}")
        return Template("storefront/product.html", context={"page": page}, cookies=cookies)

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import Parameter

from api.dependencies import from_state
from api.examples import PROBLEM_404, PRODUCT, example_responses
from api.products.schemas import ProductDetail
from api.products.services import ProductService
from api.security.auth import caller_of


class ProductController(Controller):
    path = "/v1/products"
    tags = ["products"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"product_service": from_state("product_service")}  # noqa: RUF012
    opt = {"scope": "search", "enumeration_guarded": True}  # noqa: RUF012

    @get(
        "/{product_id:str}",
        summary="One product by id (404 when unknown)",
        sync_to_thread=True,
        responses=example_responses(ProductDetail, PRODUCT, PROBLEM_404),
    )
    def get_product(
        self,
        request: Request[Any, Any, Any],
        product_service: NamedDependency[ProductService],
        product_id: Annotated[str, Parameter(max_length=128, examples=[Example(value="P000902")])],
    ) -> ProductDetail:
        product = product_service.get(product_id, caller_of(request).filters)
        if product is None:
            raise NotFoundException(f"no product with id {product_id!r}")
        return product

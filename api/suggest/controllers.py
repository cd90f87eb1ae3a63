from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Parameter

from api.dependencies import from_state
from api.examples import PROBLEM_400, SUGGEST, example_responses
from api.suggest.schemas import SuggestResponse
from api.suggest.services import SuggestService


class SuggestController(Controller):
    path = "/v1/suggest"
    tags = ["search"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"suggest_service": from_state("suggest_service")}  # noqa: RUF012
    # Suggestions come from every product's words and cannot keep a partner inside its key's filters.
    opt = {"scope": "search", "unfiltered_keys_only": True}  # noqa: RUF012

    @get(
        summary="Prefix autocomplete (up to 10 suggestions)",
        sync_to_thread=False,
        responses=example_responses(SuggestResponse, SUGGEST, PROBLEM_400),
    )
    def suggest(
        self,
        suggest_service: NamedDependency[SuggestService],
        q: Annotated[str, Parameter(min_length=1, max_length=256, examples=[Example(value="iph")])],
    ) -> SuggestResponse:
        return suggest_service.suggest(q)

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.openapi.spec import Example
from litestar.params import Parameter

from api.dependencies import from_state
from api.examples import PROBLEM_400, PROBLEM_404, PROBLEM_429, RECOMMENDATIONS, example_responses
from api.privacy.dependencies import request_consent
from api.recommendations.schemas import RecommendationsResponse
from api.recommendations.services import RecommendationService, UnknownProductError
from api.security.users import acting_for, request_user


class RecommendationController(Controller):
    path = "/v1/recommendations"
    tags = ["recommendations"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {  # noqa: RUF012
        "recommendation_service": from_state("recommendation_service")
    }
    opt = {"scope": "recommend", "rate_limit": "recommend"}  # noqa: RUF012

    @get(
        summary="Recommendations for a user (user_id) or items similar to a product (product_id)",
        sync_to_thread=True,
        responses=example_responses(
            RecommendationsResponse, RECOMMENDATIONS, PROBLEM_400, PROBLEM_404, PROBLEM_429
        ),
    )
    def recommend(
        self,
        request: Request[Any, Any, Any],
        recommendation_service: NamedDependency[RecommendationService],
        user_id: Annotated[
            str | None, Parameter(max_length=128, examples=[Example(value="sim-u00042")])
        ] = None,
        product_id: Annotated[
            str | None, Parameter(max_length=128, examples=[Example(value="P000902")])
        ] = None,
        k: Annotated[int, Parameter(ge=1, le=100, examples=[Example(value=10)])] = 10,
        category: Annotated[
            str | None, Parameter(max_length=200, examples=[Example(value="Fashion")])
        ] = None,
        session_id: Annotated[
            str | None, Parameter(max_length=128, examples=[Example(value="s-456")])
        ] = None,
    ) -> RecommendationsResponse:
        if (user_id is None) == (product_id is None):
            raise ValidationException("give exactly one of user_id (personal) or product_id (similar items)")
        if product_id is not None:
            acting_for(request)  # a bad X-User-Token is a 401 here too, never silently ignored
            try:
                return recommendation_service.similar(product_id, k)
            except UnknownProductError as exc:
                raise NotFoundException(str(exc)) from exc
        # A user id the caller may not act for is answered as an anonymous session's, and so is a
        # shopper who opted out of personalization (docs/privacy.md#consent).
        user = request_user(request, user_id)
        shopper = recommendation_service.privacy.shopper(user, None, request_consent(request))
        track = shopper.consent.tracking
        if not shopper.consent.personalization:
            return recommendation_service.for_user(None, k, category, None, track=track)
        personal = recommendation_service.for_user(shopper.user, k, category, session_id, track=track)
        return msgspec.structs.replace(personal, user_id=user)  # the caller's id, not the pseudonym

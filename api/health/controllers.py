from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide

from api.examples import LIVE, READY, example_responses
from api.health.dependencies import provide_health_service
from api.health.schemas import Liveness, Readiness
from api.health.services import HealthService


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"health_service": Provide(provide_health_service, sync_to_thread=False)}  # noqa: RUF012
    opt = {"public": True}  # noqa: RUF012 - load balancers and orchestrators probe without a key
    security = [{}]  # noqa: RUF012 - the OpenAPI document says so

    @get(
        "/live",
        summary="The process is up",
        sync_to_thread=False,
        responses=example_responses(Liveness, LIVE, public=True),
    )
    def live(self) -> Liveness:
        return Liveness(status="live")

    @get(
        "/ready",
        summary="OpenSearch and the products alias are usable (503 otherwise)",
        sync_to_thread=True,
        responses=example_responses(Readiness, READY, public=True),
    )
    def ready(self, health_service: NamedDependency[HealthService]) -> Response[Readiness]:
        readiness = health_service.readiness()
        return Response(readiness, status_code=200 if readiness.ready else 503)

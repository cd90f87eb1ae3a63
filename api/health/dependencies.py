from __future__ import annotations

from litestar.datastructures import State

from api.health.services import HealthService


def provide_health_service(state: State) -> HealthService:
    return HealthService(state.engine, state.store, state.settings.products_alias, state.ubi_engine)

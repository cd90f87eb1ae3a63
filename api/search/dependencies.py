from __future__ import annotations

from litestar.datastructures import State

from api.search.services import SearchService


def provide_search_service(state: State) -> SearchService:
    service: SearchService = state.search_service
    return service

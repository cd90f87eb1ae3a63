"""Dependency providers shared by the feature packages."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from litestar.di import Provide


def from_state(attribute: str) -> Provide:
    """Hand a handler the service the app's lifespan built and stored on `app.state`."""

    def provide(state: State) -> Any:
        return getattr(state, attribute)

    return Provide(provide, sync_to_thread=False)

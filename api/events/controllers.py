from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.dependencies import from_state
from api.examples import EVENTS, EVENTS_ACCEPTED, PROBLEM_422, example_responses
from api.privacy.dependencies import request_consent
from api.security.users import acting_for
from quarry.events.schemas import EventsAccepted
from quarry.events.service import EventService

# ubi.js posts to `<base URL>/ubi_events`: a client pointed at Quarry's base URL needs no other setting.
UBI_JS_PATH = "/ubi_events"


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"event_service": from_state("event_service")}  # noqa: RUF012
    opt = {"scope": "events"}  # noqa: RUF012

    @post(
        summary="Record UBI 1.3 behaviour events (1-500 per batch), durably and idempotently",
        description="The body is a JSON array of UBI events (as ubi.js and Data Prepper send them), one "
        'event object, or {"events": [...]}. 202 only after every event is durably stored. A batch '
        "with any invalid event is rejected whole (422, listing each bad event's index and all its "
        "reasons); re-sent events (same event_id, or for events without one the same content) count "
        "as duplicates and are not stored again. /ubi_events is the same route at the path ubi.js "
        "posts to. Example body: " + EVENTS,
        status_code=202,
        sync_to_thread=True,
        responses=example_responses(EventsAccepted, EVENTS_ACCEPTED, PROBLEM_422, status=202),
    )
    def record(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[list[Any] | dict[str, Any]],
        event_service: NamedDependency[EventService],
    ) -> Response[EventsAccepted]:
        accepted = event_service.ingest(data, acting=acting_for(request), consent=request_consent(request))
        return Response(accepted, status_code=202)


class UbiJsEventController(EventController):
    """The same route at the path ubi.js posts to."""

    path = UBI_JS_PATH

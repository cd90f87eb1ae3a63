from __future__ import annotations

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.dependencies import from_state
from api.events.schemas import EventBatch, EventsAccepted
from api.events.services import EventService
from api.examples import EVENTS, EVENTS_ACCEPTED, PROBLEM_422, example_responses


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"event_service": from_state("event_service")}  # noqa: RUF012

    @post(
        summary="Record behaviour events (1-500 per batch), durably and idempotently",
        description="202 only after every event is durably stored. A batch with any invalid event is "
        "rejected whole (422, listing each bad event's index and reason); re-sent event_ids count as "
        "duplicates and are not stored again. Example body: " + EVENTS,
        status_code=202,
        sync_to_thread=True,
        responses=example_responses(EventsAccepted, EVENTS_ACCEPTED, PROBLEM_422),
    )
    def record(
        self, data: JSONBody[EventBatch], event_service: NamedDependency[EventService]
    ) -> Response[EventsAccepted]:
        return Response(event_service.ingest(data), status_code=202)

"""`make events-replay FILE=…`: load UBI events older than the API's age limit (a backfill, logs kept
by another system, events that arrived while Quarry was down). The API refuses events older than
`QUARRY_EVENTS_MAX_AGE_DAYS` because a live client never sends them; a replay is an operator's job,
so it runs here, with direct access to the cluster, and goes through the same validation and storage
as the API (docs/events.md#replaying-old-events).

A bad event does not stop the replay: it is reported with its line and every reason, and the rest of
its batch is stored. Events already stored count as duplicates, so a replay can be run again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from pipelines.indexing.bulk import chunks
from quarry.acting_for import ANY_USER
from quarry.events.service import EventService
from quarry.events.validation import BatchRejectedError

log = logging.getLogger("pipelines.events_replay")

BATCH = 500


class RejectedEvent(msgspec.Struct):
    line: int
    reason: str


class ReplayReport(msgspec.Struct):
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: list[RejectedEvent] = msgspec.field(default_factory=list)


def read_events(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, event) pairs. A `.json` file is one document: an array of events, or Quarry's
    `{"events": [...]}`. Anything else is NDJSON, read line by line (a file of any size): each line an
    event or an array of events (what ubi.js and Data Prepper post)."""
    if path.suffix == ".json":
        document = msgspec.json.decode(path.read_bytes())
        events = document.get("events", [document]) if isinstance(document, dict) else document
        yield from ((1, event) for event in events)
        return
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                decoded = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                yield number, Unreadable(str(exc))
                continue
            yield from ((number, event) for event in (decoded if isinstance(decoded, list) else [decoded]))


class Unreadable(msgspec.Struct):
    """A line that is not JSON: reported, the replay goes on."""

    error: str


def replay(
    service: EventService,
    events: Iterable[tuple[int, Any]],
    batch_size: int = BATCH,
    progress: Callable[[int], object] | None = None,
) -> ReplayReport:
    report = ReplayReport()
    for batch in chunks(events, batch_size):
        report.read += len(batch)
        if progress is not None:
            progress(len(batch))
        readable = []
        for line, event in batch:
            if isinstance(event, Unreadable):
                report.rejected.append(RejectedEvent(line, f"not JSON: {event.error}"))
            else:
                readable.append((line, event))
        _store(service, readable, report)
    return report


def _store(service: EventService, batch: list[tuple[int, Any]], report: ReplayReport) -> None:
    while batch:
        try:
            accepted = service.ingest([event for _, event in batch], acting=ANY_USER)
        except BatchRejectedError as exc:
            bad = {error.index: error.reason for error in exc.errors if 0 <= error.index < len(batch)}
            if not bad:
                raise
            report.rejected.extend(RejectedEvent(batch[i][0], reason) for i, reason in sorted(bad.items()))
            log.warning("events rejected", extra={"events": len(bad), "first_line": batch[min(bad)][0]})
            batch = [item for i, item in enumerate(batch) if i not in bad]
            continue
        report.stored += accepted.accepted
        report.duplicates += accepted.duplicates
        return

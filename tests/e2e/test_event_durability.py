"""Kill the API (SIGKILL) right after it acknowledged a batch: every acknowledged event is there."""

from __future__ import annotations

import datetime as dt
import signal
import uuid

import httpx

from quarry.ubi import UBI_EVENTS
from tests.conftest import running_api


def test_acknowledged_events_survive_killing_the_service(engine, auth_headers) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    batches = [
        [
            {
                "event_id": f"kill-{uuid.uuid4().hex}",
                "action_name": "view",
                "client_id": "c-kill",
                "object_id": f"P{i:06d}",
                "timestamp": now,
            }
            for i in range(500)
        ]
        for _ in range(4)
    ]
    acknowledged: list[str] = []
    with running_api(QUARRY_API_WORKERS="1") as (base, _, process):
        for batch in batches[:-1]:
            response = httpx.post(
                f"{base}/v1/events", json={"events": batch}, headers=auth_headers, timeout=60
            )
            assert response.status_code == 202
            acknowledged += [e["event_id"] for e in batch]
        # The last batch: kill the process the moment its 202 arrives, before anything else can run.
        response = httpx.post(
            f"{base}/v1/events", json={"events": batches[-1]}, headers=auth_headers, timeout=60
        )
        process.send_signal(signal.SIGKILL)
        assert response.status_code == 202 and response.json()["accepted"] == 500
        acknowledged += [e["event_id"] for e in batches[-1]]
        process.wait(timeout=10)
    engine.refresh(UBI_EVENTS)
    found = engine.count(UBI_EVENTS, {"terms": {"event_id": acknowledged}})
    assert found == len(acknowledged) == 2000

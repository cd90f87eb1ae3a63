import pytest

from quarry.adapters.search_engine import BulkItemResult, BulkResponse, SearchEngineError, index_action
from quarry.bulk import send_with_retry


class ScriptedBulk:
    """Answers each bulk call with the next scripted outcome: a list of statuses, or an exception."""

    def __init__(self, *script):
        self.script = list(script)
        self.bodies: list[bytes] = []

    def __call__(self, body: bytes) -> BulkResponse:
        self.bodies.append(body)
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        ids = [line.split(b'"_id":"')[1].split(b'"')[0].decode() for line in body.splitlines()[::2]]
        items = [
            BulkItemResult(id=i, status=s, error=None if s < 300 else f"err{s}")
            for i, s in zip(ids, outcome, strict=True)
        ]
        return BulkResponse(items=items, took_ms=1)


def items(*ids):
    return [(i, index_action("idx", i, {"n": i})) for i in ids]


def test_only_rejected_items_are_resent_after_429() -> None:
    send = ScriptedBulk([201, 429, 201], [201])
    sleeps: list[float] = []
    indexed, retries, failures = send_with_retry(send, items("a", "b", "c"), 3, 0.5, sleeps.append)
    assert (indexed, retries, failures) == (3, 1, [])
    assert b'"_id":"b"' in send.bodies[1] and b'"_id":"a"' not in send.bodies[1]
    assert sleeps == [0.5]


def test_mapping_errors_are_reported_not_retried() -> None:
    send = ScriptedBulk([201, 400])
    indexed, retries, failures = send_with_retry(send, items("a", "b"), 3, 0.1, lambda s: None)
    assert indexed == 1 and retries == 0
    assert [(f.doc_id, f.status, f.reason) for f in failures] == [("b", 400, "err400")]


def test_transport_errors_retry_the_whole_request_with_backoff() -> None:
    send = ScriptedBulk(SearchEngineError("down", None), SearchEngineError("busy", 503), [201, 201])
    sleeps: list[float] = []
    indexed, retries, failures = send_with_retry(send, items("a", "b"), 5, 1.0, sleeps.append)
    assert (indexed, retries, failures) == (2, 2, [])
    assert sleeps == [1.0, 2.0]


def test_giving_up_reports_every_unsent_item() -> None:
    send = ScriptedBulk([503, 201], [503], [503])
    indexed, retries, failures = send_with_retry(send, items("a", "b"), 2, 0.0, lambda s: None)
    assert indexed == 1 and retries == 2
    assert (
        len(failures) == 1 and failures[0].doc_id == "a" and "gave up after 2 retries" in failures[0].reason
    )


def test_client_errors_on_the_request_are_raised() -> None:
    send = ScriptedBulk(SearchEngineError("bad request", 400))
    with pytest.raises(SearchEngineError):
        send_with_retry(send, items("a"), 5, 0.0, lambda s: None)


def test_persistent_outage_raises_after_max_retries() -> None:
    send = ScriptedBulk(*[SearchEngineError("down", None)] * 3)
    with pytest.raises(SearchEngineError):
        send_with_retry(send, items("a"), 2, 0.0, lambda s: None)
    assert len(send.bodies) == 3

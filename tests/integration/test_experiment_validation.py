"""`make experiment-validation` on the real stack (pipelines/experiment_validation.py), with traffic
whose clicks the test decides: the validation counts each experiment's sessions and clicks as they
happened, and detects the variant the test made better, in the A/B test and interleaved."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest

from pipelines.api_access import api_client, tool_token
from pipelines.experiment_validation import validate
from tests.conftest import make_event

VISITS = 240


def test_the_validation_reads_what_the_traffic_did(shop_catalog, engine, tmp_path) -> None:
    """A/A sessions click when their number is a multiple of 3, whatever their arm; in the A/B test
    every ALS session clicks and one popularity session in five; interleaved sessions click ALS's
    first item."""
    # The demo catalog with the priors that recommend before any events: the API this starts needs a
    # products alias to be ready, and a clean checkout's default alias does not exist.
    settings = shop_catalog
    tag = uuid.uuid4().hex[:8]
    sessions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    clicks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def traffic(base: str) -> int:
        events = []
        with (
            tool_token(settings, "test_experiment_validation", ("recommend", "events", "server")) as token,
            api_client(settings, token, base) as client,
        ):
            for n in range(VISITS):
                user, session = f"val-{tag}-{n}", f"val-{tag}-s{n}"
                params = {"user_id": user, "session_id": session, "k": 6}
                body = client.get("/v1/recommendations", params=params).raise_for_status().json()
                [assigned] = body["experiments"]  # one layer: exactly one experiment per session
                name, variant = assigned["experiment"], assigned["variant"]
                sessions[name][variant] += 1
                items = [item["product_id"] for item in body["items"]]
                if name.startswith("aa_"):
                    clicked = items[0] if n % 3 == 0 else None
                elif name.startswith("ab_"):
                    clicked = items[0] if variant == "als" or n % 5 == 0 else None
                else:
                    clicked = items[body["teams"].index("als")]
                if clicked is not None:
                    clicks[name][variant] += 1
                    events.append(
                        make_event(
                            user_id=user, session_id=session, query_id=body["request_id"], object_id=clicked
                        )
                    )
            client.post("/v1/events", json={"events": events}).raise_for_status()
        return VISITS

    result = validate(settings, engine, tmp_path / "definitions", traffic, run=tag)

    assert result.visits == VISITS
    assert sum(sum(arms.values()) for arms in sessions.values()) == VISITS
    for test in result.aa_tests:  # those with sessions in both arms
        assert test.sessions == sum(sessions[test.name].values())
        assert test.ctr_control == pytest.approx(clicks[test.name]["a"] / sessions[test.name]["a"], abs=1e-6)
        assert test.ctr_variant == pytest.approx(clicks[test.name]["b"] / sessions[test.name]["b"], abs=1e-6)
    assert len(result.aa_tests) == sum(
        1 for name, arms in sessions.items() if name.startswith("aa_") and len(arms) == 2
    )
    ab, interleaved = result.known_better
    assert ab.looks[-1].sessions == sum(sessions[f"ab_{tag}"].values())
    assert interleaved.looks[-1].sessions == sessions[f"il_{tag}"]["interleaved"]
    assert ab.looks[-1].detected and interleaved.looks[-1].detected
    assert ab.sessions_needed is not None and interleaved.sessions_needed is not None

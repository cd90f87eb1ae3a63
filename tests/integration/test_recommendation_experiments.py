"""Recommendation experiments on the real stack (docs/experiments.md#serving): a shopper in one is
served with their variant's strategy or ALS alias, the response names the assignment, each answer is
recorded with it (quarry/recommendation_log.py), and the readout credits the events that name the
answer's request id to its variant."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest

from pipelines.experiment_report import run
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.experiments.assignment import variant_of
from quarry.experiments.definitions import Changes, Experiment, Variant
from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG
from quarry.recommenders import ARTIFACT
from tests.conftest import make_event
from tests.integration.test_recommendations import publish

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STOP = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
SHOPPERS = [f"t{n}" for n in range(15)] + [f"b{n}" for n in range(15, 30)]
"""The users the toy ALS model knows (tests/integration/test_recommendations.py)."""


def definition(name: str, layer: str, control: Changes, treatment: Changes) -> Experiment:
    return Experiment(
        name=name,
        layer=layer,
        variants=[Variant("control", 0.5, control), Variant("treatment", 0.5, treatment)],
        start=START,
        stop=STOP,
        primary_metric="ctr",
        minimum_sample=100,
    )


@pytest.fixture(scope="module")
def served(app_client, demo_catalog, pseudonyms, tmp_path_factory):
    """Two experiments in two layers, so each shopper is in both: the strategy (popularity against
    ALS) and the ALS version (the `canary` alias against the champion)."""
    tag = uuid.uuid4().hex[:8]
    strategy = definition(
        f"rec_strategy_{tag}",
        "rec-strategy",
        Changes(recommendations="popularity"),
        Changes(recommendations="als"),
    )
    model = definition(f"rec_model_{tag}", "rec-model", Changes(), Changes(model_aliases={"als": "canary"}))
    folder = Path(tmp_path_factory.mktemp("rec-experiments"))
    artifacts = LocalArtifactStore(folder / "artifacts")
    older = publish(artifacts, seed=0, user=pseudonyms.user)
    champion = publish(artifacts, seed=1, user=pseudonyms.user)
    artifacts.set_alias(ARTIFACT, "canary", older, "the test's canary")
    (folder / "definitions").mkdir()
    for experiment in (strategy, model):
        (folder / "definitions" / f"{experiment.name}.json").write_bytes(msgspec.json.encode(experiment))
    settings = msgspec.structs.replace(
        demo_catalog,
        artifacts_dir=str(folder / "artifacts"),
        experiments_dir=str(folder / "definitions"),
        cache_warm_queries=0,
    )
    with app_client(settings) as client:
        answers = {}
        for user in SHOPPERS:
            response = client.get("/v1/recommendations", params={"user_id": user, "k": 5})
            assert response.status_code == 200, response.text
            answers[user] = response.json()
        yield client, strategy, model, {"older": older, "champion": champion}, answers


def test_each_shopper_is_served_as_their_variants_define(served, pseudonyms) -> None:
    _, strategy, model, versions, answers = served
    seen = {"control": 0, "treatment": 0}
    for user, body in answers.items():
        unit = pseudonyms.user(user)
        by_strategy, by_model = variant_of(strategy, unit), variant_of(model, unit)
        seen[by_strategy] += 1
        assigned = {a["experiment"]: a["variant"] for a in body["experiments"]}
        assert assigned == {strategy.name: by_strategy, model.name: by_model}
        assert body["model_alias"] == ("canary" if by_model == "treatment" else "champion")
        if by_strategy == "control":
            assert body["strategy"].startswith(("popularity", "catalog_priors")), body
        else:
            assert body["strategy"] == "collaborative", body
            expected = versions["older"] if by_model == "treatment" else versions["champion"]
            assert body["model_version"] == expected
    assert min(seen.values()) >= 5  # about half of 30 each


def test_each_answer_is_recorded_with_its_exposure(served, engine, pseudonyms) -> None:
    client, _, _, _, answers = served
    client.app.state.recommendation_service.flush_records()
    engine.refresh(RECOMMENDATION_LOG)
    for user, body in answers.items():
        record = engine.get_document(RECOMMENDATION_LOG, body["request_id"])
        assert record is not None, user
        assert record["user_id"] == pseudonyms.user(user)
        assert record["query_response_hit_ids"] == [item["product_id"] for item in body["items"]]
        attributes = record["query_attributes"]
        assert attributes["experiments"] == {a["experiment"]: a["variant"] for a in body["experiments"]}
        assert attributes["strategy"] == body["strategy"] and attributes["total"] == len(body["items"])
        assert attributes["latency_ms"] >= 0


def test_the_readout_credits_events_to_the_variant_that_answered(
    served, engine, pseudonyms, tmp_path
) -> None:
    """Every ALS shopper clicks their first recommendation, one control shopper in five does."""
    client, strategy, _, _, answers = served
    clicked = {"control": set(), "treatment": set()}
    seen = {"control": set(), "treatment": set()}
    events = []
    for n, (user, body) in enumerate(answers.items()):
        variant = variant_of(strategy, pseudonyms.user(user))
        seen[variant].add(user)
        if variant == "treatment" or n % 5 == 0:
            clicked[variant].add(user)
            first = body["items"][0]["product_id"]
            events.append(make_event(user_id=user, query_id=body["request_id"], object_id=first))
    assert client.post("/v1/events", json=events).status_code == 202
    client.app.state.recommendation_service.flush_records()
    engine.request("POST", f"/{RECOMMENDATION_LOG},ubi_events*/_refresh")

    result = run(engine, [strategy], strategy.name, tmp_path)
    by_variant = {c.variant: c for c in result.variants}
    for variant in ("control", "treatment"):
        assert by_variant[variant].units == len(seen[variant])
        assert by_variant[variant].units_with["click"] == len(clicked[variant])
    [ctr] = [c for c in result.comparisons if c.metric == "ctr" and c.per == "user"]
    assert ctr.variant_value == 1.0 and ctr.significant


@pytest.fixture(scope="module")
def interleaved(app_client, demo_catalog, pseudonyms, tmp_path_factory):
    experiment = msgspec.structs.replace(
        definition(
            f"rec_interleave_{uuid.uuid4().hex[:8]}",
            "rec-interleave",
            Changes(recommendations="popularity"),
            Changes(recommendations="als"),
        ),
        design="interleaving",
    )
    folder = Path(tmp_path_factory.mktemp("rec-interleaving"))
    publish(LocalArtifactStore(folder / "artifacts"), seed=0, user=pseudonyms.user)
    (folder / "definitions").mkdir()
    (folder / "definitions" / "interleave.json").write_bytes(msgspec.json.encode(experiment))
    settings = msgspec.structs.replace(
        demo_catalog,
        artifacts_dir=str(folder / "artifacts"),
        experiments_dir=str(folder / "definitions"),
        cache_warm_queries=0,
    )
    with app_client(settings) as client:
        yield client, experiment


def test_an_interleaving_experiment_merges_both_answers_and_credits_clicks_to_teams(
    interleaved, engine, tmp_path
) -> None:
    """Every shopper sees popular and ALS items merged by team draft. Shoppers 0, 4, 8, ... click
    the first popular item, the others the first ALS item: the votes are the test's decisions."""
    client, experiment = interleaved
    events, votes, ties = [], {"control": 0, "treatment": 0}, 0
    for n, user in enumerate(SHOPPERS):
        body = client.get("/v1/recommendations", params={"user_id": user, "k": 6}).json()
        assert body["strategy"] == "interleaved"
        assert body["experiments"] == [{"experiment": experiment.name, "variant": "interleaved"}]
        items = [item["product_id"] for item in body["items"]]
        assert len(items) == len(set(items)) == len(body["teams"]) == 6
        # Each team's picks stay within one of the other's while both have items left to give; the
        # two answers may share items (popular ones ALS also ranks), so only the teams are checked.
        assert set(body["teams"]) <= {"control", "treatment"}
        team = "control" if n % 4 == 0 else "treatment"
        if team not in body["teams"]:  # the other team placed every item: no click, a tie
            ties += 1
            continue
        clicked = items[body["teams"].index(team)]
        votes[team] += 1
        events.append(make_event(user_id=user, query_id=body["request_id"], object_id=clicked))
    assert client.post("/v1/events", json=events).status_code == 202
    client.app.state.recommendation_service.flush_records()
    engine.request("POST", f"/{RECOMMENDATION_LOG},ubi_events*/_refresh")

    result = run(engine, [experiment], experiment.name, tmp_path)
    readout = result.interleaving
    assert readout is not None and readout.impressions == len(SHOPPERS)
    for preference in (readout.per_unit, readout.per_impression):
        assert (preference.wins_a, preference.wins_b, preference.ties) == (
            votes["control"],
            votes["treatment"],
            ties,
        )
    assert readout.per_unit.p_value < 0.05 and readout.per_unit.delta < 0
    written = (tmp_path / "experiments" / f"{experiment.name}.md").read_text()
    assert "## Interleaving: `control` (a) against `treatment` (b)" in written
    assert f"]({experiment.name}.png)" in written
    assert (tmp_path / "experiments" / f"{experiment.name}.png").stat().st_size > 0

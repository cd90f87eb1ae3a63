"""Search experiments on the real stack (docs/experiments.md#serving): a shopper in a search
experiment is searched with their variant's changes, the response names the assignment, and the UBI
query record carries it as the exposure an analysis counts."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import msgspec
import pytest

from pipelines.experiment_report import run
from quarry.experiments.assignment import variant_of
from quarry.experiments.definitions import Changes, Experiment, Variant
from quarry.experiments.readout import catalog_prices
from quarry.ubi import UBI_QUERIES
from tests.conftest import make_event

KEYWORD_ONLY = Experiment(
    name="keyword_retrieval",
    layer="retrieval",
    variants=[Variant("control", 0.5), Variant("keyword", 0.5, Changes(retrieval="keyword"))],
    start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    stop=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    primary_metric="ctr",
    guardrails=["zero_result_rate"],
    minimum_sample=14_751,
)


@pytest.fixture(scope="module")
def experimenting(app_client, demo_catalog, tmp_path_factory):
    directory = Path(tmp_path_factory.mktemp("experiments"))
    (directory / "keyword_retrieval.json").write_bytes(msgspec.json.encode(KEYWORD_ONLY))
    settings = msgspec.structs.replace(demo_catalog, experiments_dir=str(directory))
    with app_client(settings) as client:
        yield client


def test_each_variant_searches_as_it_defines_and_the_exposure_is_logged(
    experimenting, engine, pseudonyms
) -> None:
    shoppers = {variant: [] for variant in ("control", "keyword")}
    for n in range(40):
        user = f"exp-shopper-{n}"
        shoppers[variant_of(KEYWORD_ONLY, pseudonyms.user(user))].append(user)
    assert all(len(users) >= 5 for users in shoppers.values())

    answers = {}
    for variant, users in shoppers.items():
        response = experimenting.get("/v1/search", params={"q": "trail running shoes", "user_id": users[0]})
        assert response.status_code == 200, response.text
        answers[variant] = response.json()
        assert answers[variant]["experiments"] == [{"experiment": "keyword_retrieval", "variant": variant}]
    assert answers["keyword"]["retrieval"]["mode"] == "keyword"
    assert answers["control"]["retrieval"]["mode"] == "hybrid"

    params = {"q": "trail running shoes", "user_id": shoppers["keyword"][0]}
    again = experimenting.get("/v1/search", params=params)
    assert again.json()["experiments"] == answers["keyword"]["experiments"]  # sticky, cached or not

    anonymous = experimenting.get("/v1/search", params={"q": "trail running shoes"}).json()
    assert anonymous["experiments"] == []  # a user experiment needs a user

    experimenting.app.state.search_service.query_log.flush()
    engine.refresh(UBI_QUERIES)
    for variant, body in answers.items():
        record = engine.get_document(UBI_QUERIES, body["query_id"])
        assert record["query_attributes"]["experiments"] == {"keyword_retrieval": variant}
    assert "experiments" not in engine.get_document(UBI_QUERIES, anonymous["query_id"])["query_attributes"]


def test_the_admin_api_lists_the_experiments_in_force_with_status_and_surfaces(experimenting) -> None:
    response = experimenting.get("/admin/experiments")
    assert response.status_code == 200, response.text
    [listed] = response.json()["experiments"]
    assert listed["name"] == "keyword_retrieval" and listed["status"] == "running"
    assert listed["surfaces"] == ["search"] and listed["unit"] == "user"
    assert [(v["name"], v["share"]) for v in listed["variants"]] == [("control", 0.5), ("keyword", 0.5)]
    assert listed["variants"][1]["changes"]["retrieval"] == "keyword"


def test_a_definition_the_service_cannot_run_runs_no_experiment(app_client, demo_catalog, tmp_path) -> None:
    broken = msgspec.structs.replace(
        KEYWORD_ONLY,
        variants=[Variant("control", 0.5), Variant("wide", 0.5, Changes(ranking={"window": "wide"}))],
    )
    (tmp_path / "broken.json").write_text(json.dumps(msgspec.to_builtins(broken)))
    settings = msgspec.structs.replace(demo_catalog, experiments_dir=str(tmp_path))
    with app_client(settings) as client:
        response = client.get("/v1/search", params={"q": "backpack", "user_id": "exp-shopper-1"})
        listed = client.get("/admin/experiments").json()["experiments"]
    assert response.status_code == 200
    assert response.json()["experiments"] == [] and listed == []


def test_the_report_reads_each_variants_exposures_and_engagement_from_ubi(
    app_client, demo_catalog, engine, pseudonyms, tmp_path
) -> None:
    """Shoppers search through the API and click as the test decides (60 % of the keyword variant's
    shoppers, 20 % of control's); the report counts those units and rates from UBI alone. The
    experiment is named for this run, so earlier runs' records in UBI are not counted."""
    experiment = msgspec.structs.replace(KEYWORD_ONLY, name=f"kw_{uuid.uuid4().hex[:10]}")
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "kw.json").write_bytes(msgspec.json.encode(experiment))
    settings = msgspec.structs.replace(demo_catalog, experiments_dir=str(tmp_path / "definitions"))
    clicked: dict[str, set[str]] = {"control": set(), "keyword": set()}
    seen: dict[str, set[str]] = {"control": set(), "keyword": set()}
    events = []
    with app_client(settings) as client:
        for n in range(160):
            user = f"exp-report-{n}"
            variant = variant_of(experiment, pseudonyms.user(user))
            body = client.get("/v1/search", params={"q": "hiking backpack", "user_id": user}).json()
            seen[variant].add(user)
            if n % 5 < (3 if variant == "keyword" else 1):
                clicked[variant].add(user)
                product = body["results"][0]["product_id"]
                events.append(make_event(user_id=user, query_id=body["query_id"], object_id=product))
        accepted = client.post("/v1/events", json=events)
        assert accepted.status_code == 202, accepted.text
        client.app.state.search_service.query_log.flush()
    engine.request("POST", "/ubi_queries,ubi_events*/_refresh")

    result = run(engine, [experiment], experiment.name, tmp_path)
    by_variant = {c.variant: c for c in result.variants}
    for variant in ("control", "keyword"):
        assert by_variant[variant].units == len(seen[variant])
        assert by_variant[variant].searches == len(seen[variant])
        assert by_variant[variant].units_with["click"] == len(clicked[variant])
    [ctr] = [c for c in result.comparisons if c.metric == "ctr" and c.per == "user"]
    [per_search] = [c for c in result.comparisons if c.metric == "ctr" and c.per == "search"]
    # one search each: the share of searches followed by a click is the share of shoppers who clicked
    assert per_search.variant_value == pytest.approx(len(clicked["keyword"]) / len(seen["keyword"]), abs=1e-6)
    assert ctr.control_value == pytest.approx(len(clicked["control"]) / len(seen["control"]), abs=1e-6)
    assert ctr.variant_value == pytest.approx(len(clicked["keyword"]) / len(seen["keyword"]), abs=1e-6)
    assert ctr.significant and ctr.ci_low > 0  # 60 % against 20 % of some 80 shoppers each
    assert not result.sample_ratio.mismatch
    assert not result.readable  # far below the fixed horizon of the definition's minimum sample
    written = (tmp_path / "experiments" / f"{experiment.name}.md").read_text()
    assert "Not readable yet" in written and "| ctr (primary) | user | keyword |" in written
    assert (tmp_path / "experiments" / f"{experiment.name}.png").stat().st_size > 0


def test_the_report_reads_revenue_latency_and_adjusts_for_the_pre_period(
    app_client, demo_catalog, engine, pseudonyms, tmp_path
) -> None:
    """Half the shoppers are big spenders: they bought before the experiment started and buy again
    during it; a few others buy once. Revenue per variant is the price the search showed for each
    product bought; each exposure carries the latency its response reported; and the pre-period
    purchases, which predict the experiment's, make CUPED narrow the revenue interval."""
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(hours=1)
    experiment = msgspec.structs.replace(KEYWORD_ONLY, name=f"rev_{uuid.uuid4().hex[:10]}", start=start)
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "rev.json").write_bytes(msgspec.json.encode(experiment))
    settings = msgspec.structs.replace(demo_catalog, experiments_dir=str(tmp_path / "definitions"))
    revenue = {"control": 0.0, "keyword": 0.0}
    latency: dict[str, float] = {}
    events = []
    queries = ["leather wallet", "wireless earbuds", "yoga mat", "coffee grinder"]
    with app_client(settings) as client:
        for n in range(80):
            user = f"exp-revenue-{n}"
            variant = variant_of(experiment, pseudonyms.user(user))
            body = client.get("/v1/search", params={"q": queries[n % 4], "user_id": user}).json()
            latency[body["query_id"]] = body["took_ms"]
            first = body["results"][0]
            big_spender = n % 2 == 0
            if big_spender:
                before = (start - dt.timedelta(hours=2)).isoformat()
                events.append(
                    make_event(
                        action_name="purchase",
                        user_id=user,
                        query_id=f"pre-{uuid.uuid4().hex}",
                        object_id=first["product_id"],
                        timestamp=before,
                    )
                )
            if big_spender or n % 8 == 1:
                revenue[variant] += first["price"]
                events.append(
                    make_event(
                        action_name="purchase",
                        user_id=user,
                        query_id=body["query_id"],
                        object_id=first["product_id"],
                    )
                )
        accepted = client.post("/v1/events", json=events)
        assert accepted.status_code == 202, accepted.text
        client.app.state.search_service.query_log.flush()
    engine.request("POST", "/ubi_queries,ubi_events*/_refresh")

    for query_id, took in latency.items():
        assert engine.get_document(UBI_QUERIES, query_id)["query_attributes"]["latency_ms"] == took

    prices = catalog_prices(engine, demo_catalog.products_alias)
    result = run(engine, [experiment], experiment.name, tmp_path, prices)
    by_variant = {c.variant: c for c in result.variants}
    for variant in ("control", "keyword"):
        assert by_variant[variant].revenue == pytest.approx(revenue[variant], abs=0.01)
        assert by_variant[variant].latency_p95_ms is not None
    rows = {(c.metric, c.per): c for c in result.comparisons}
    plain, adjusted = rows[("revenue_per_user", "user")], rows[("revenue_per_user", "user (CUPED)")]
    units = {v: by_variant[v].units for v in by_variant}
    assert plain.control_value == pytest.approx(revenue["control"] / units["control"], abs=1e-4)
    searches = {v: by_variant[v].searches for v in by_variant}
    per_search = rows[("revenue_per_search", "search")]
    assert per_search.variant_value == pytest.approx(revenue["keyword"] / searches["keyword"], abs=1e-4)
    assert plain.test == "welch" and rows[("latency", "search")].test == "welch"
    assert result.cuped_theta["revenue_per_user"] > 0
    assert adjusted.ci_high - adjusted.ci_low < plain.ci_high - plain.ci_low
    written = (tmp_path / "experiments" / f"{experiment.name}.md").read_text()
    assert "| revenue_per_user | user (CUPED) | keyword |" in written


def test_an_interleaving_experiment_merges_two_rankings_and_credits_clicks_to_teams(
    app_client, demo_catalog, engine, tmp_path
) -> None:
    """Hybrid and keyword-only retrieval, merged for every shopper; shoppers 0, 3, 6, ... click the
    first hybrid result, the others the first keyword one. A second page is not merged."""
    experiment = msgspec.structs.replace(
        KEYWORD_ONLY, name=f"il_{uuid.uuid4().hex[:10]}", design="interleaving"
    )
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "il.json").write_bytes(msgspec.json.encode(experiment))
    settings = msgspec.structs.replace(demo_catalog, experiments_dir=str(tmp_path / "definitions"))
    queries = ["trail running shoes", "wireless earbuds", "office chair", "yoga mat"]
    votes, events = {"control": 0, "keyword": 0}, []
    with app_client(settings) as client:
        for n in range(24):
            user = f"il-shopper-{n}"
            body = client.get("/v1/search", params={"q": queries[n % 4], "user_id": user, "size": 10}).json()
            assert body["experiments"] == [{"experiment": experiment.name, "variant": "interleaved"}]
            ids = [r["product_id"] for r in body["results"]]
            assert len(ids) == len(set(ids)) == len(body["teams"]) == 10
            assert abs(body["teams"].count("control") - body["teams"].count("keyword")) <= 1
            team = "control" if n % 3 == 0 else "keyword"
            votes[team] += 1
            clicked = ids[body["teams"].index(team)]
            events.append(make_event(user_id=user, query_id=body["query_id"], object_id=clicked))
        second = client.get(
            "/v1/search", params={"q": queries[0], "user_id": "il-shopper-0", "page": 2}
        ).json()
        assert second["teams"] == [] and second["experiments"][0]["variant"] == "interleaved"
        assert client.post("/v1/events", json=events).status_code == 202
        client.app.state.search_service.query_log.flush()
    engine.request("POST", "/ubi_queries,ubi_events*/_refresh")

    record = engine.get_document(UBI_QUERIES, events[0]["query_id"])
    assert len(record["query_attributes"]["teams"]) == len(record["query_response_hit_ids"]) == 10
    result = run(engine, [experiment], experiment.name, tmp_path)
    readout = result.interleaving
    assert readout is not None and readout.impressions == 24  # the second page is not counted
    assert (readout.per_unit.wins_a, readout.per_unit.wins_b) == (votes["control"], votes["keyword"])

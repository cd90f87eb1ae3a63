"""Experiments defined through the admin API on the real stack (docs/experiments.md#the-admin-api):
checked as files are, served without a restart, versioned, stoppable, changeable only before they
start, and read by every API instance. The apps get a security-index prefix of their own, so what
this module stores is never in force for other tests."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

from quarry.experiments.assignment import variant_of
from quarry.experiments.definitions import Changes, Experiment, Variant
from quarry.experiments.store import ExperimentStore, experiments_index


def definition(
    name: str, start: dt.datetime, layer: str = "retrieval", **fields: object
) -> dict[str, object]:
    experiment = Experiment(
        name=name,
        layer=layer,
        variants=[Variant("control", 0.5), Variant("keyword", 0.5, Changes(retrieval="keyword"))],
        start=start,
        stop=start + dt.timedelta(days=30),
        primary_metric="ctr",
    )
    return {**msgspec.to_builtins(experiment), **fields}


@pytest.fixture(scope="module")
def admin_settings(demo_catalog, engine):
    prefix = f"qt-exp-{uuid.uuid4().hex[:8]}"
    yield msgspec.structs.replace(demo_catalog, security_indices_prefix=prefix, experiments_refresh_s=0.5)
    engine.request("DELETE", f"/{prefix}-*")


@pytest.fixture(scope="module")
def admin(app_client, admin_settings):
    with app_client(admin_settings) as client:
        yield client


def test_a_defined_experiment_is_served_without_a_restart_and_stopped(admin, pseudonyms) -> None:
    name = f"api_keyword_{uuid.uuid4().hex[:6]}"
    now = dt.datetime.now(dt.UTC)
    body = definition(name, now - dt.timedelta(minutes=1))
    created = admin.put(f"/admin/experiments/{name}", json=body, params={"reason": "try keyword only"})
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 1 and created.json()["experiment"]["status"] == "running"
    assert name in [e["name"] for e in admin.get("/admin/experiments").json()["experiments"]]

    experiment = msgspec.convert(body, Experiment)
    users = [f"admin-exp-{n}" for n in range(40)]
    keyword_user = next(u for u in users if variant_of(experiment, pseudonyms.user(u)) == "keyword")
    searched = admin.get("/v1/search", params={"q": "trail running shoes", "user_id": keyword_user}).json()
    assert searched["experiments"] == [{"experiment": name, "variant": "keyword"}]
    assert searched["retrieval"]["mode"] == "keyword"

    again = admin.put(f"/admin/experiments/{name}", json=body)
    assert again.status_code == 409 and "stopped, not changed" in again.json()["detail"]

    stopped = admin.delete(f"/admin/experiments/{name}", params={"reason": "enough"})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["version"] == 2 and stopped.json()["experiment"]["status"] == "ended"
    after = admin.get("/v1/search", params={"q": "trail running shoes", "user_id": keyword_user}).json()
    assert after["experiments"] == [] and after["retrieval"]["mode"] == "hybrid"

    history = admin.get(f"/admin/experiments/{name}/history").json()["versions"]
    assert [(v["version"], v["reason"]) for v in history] == [(1, "try keyword only"), (2, "enough")]
    assert all(v["changed_by"] for v in history)
    [audited] = admin.get("/admin/audit", params={"action": "stop experiment", "target": name}).json()[
        "entries"
    ]
    assert "version 2" in audited["detail"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.6}]}, "add up to 1"),
        ({"stop": "2100-01-01T00:00:00"}, "time zone"),
        (
            {
                "variants": [
                    {"name": "a", "share": 0.5},
                    {"name": "b", "share": 0.5, "changes": {"ranking": {"window": "wide"}}},
                ]
            },
            "do not apply",
        ),
    ],
)
def test_a_definition_that_cannot_run_is_refused_with_its_reason(admin, fields, reason) -> None:
    name = f"api_bad_{uuid.uuid4().hex[:6]}"
    body = definition(name, dt.datetime.now(dt.UTC), **fields)
    refused = admin.put(f"/admin/experiments/{name}", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert reason in refused.json()["detail"] and refused.json()["trace_id"]
    assert admin.get(f"/admin/experiments/{name}/history").status_code == 404  # nothing stored


def test_the_path_names_the_experiment(admin) -> None:
    body = definition("one_name", dt.datetime.now(dt.UTC))
    assert admin.put("/admin/experiments/another_name", json=body).status_code == 400


def test_experiments_of_a_layer_may_not_share_units(admin) -> None:
    layer = f"layer-{uuid.uuid4().hex[:6]}"
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    first, second = f"api_first_{uuid.uuid4().hex[:6]}", f"api_second_{uuid.uuid4().hex[:6]}"
    assert admin.put(f"/admin/experiments/{first}", json=definition(first, start, layer)).status_code == 200
    clash = admin.put(f"/admin/experiments/{second}", json=definition(second, start, layer))
    assert clash.status_code == 400 and "intersecting layer ranges" in clash.json()["detail"]
    beside = definition(second, start, layer, layer_range=[0.5, 1.0])
    narrowed = definition(first, start, layer, layer_range=[0.0, 0.5])
    # not started yet: the first may still be changed, to make room
    assert admin.put(f"/admin/experiments/{first}", json=narrowed).json()["version"] == 2
    assert admin.put(f"/admin/experiments/{second}", json=beside).status_code == 200
    retired = admin.delete(f"/admin/experiments/{first}").json()
    assert retired["version"] == 3 and retired["experiment"] is None  # never started: retired


def test_another_instance_serves_what_one_defined(app_client, admin, admin_settings, engine) -> None:
    name = f"api_shared_{uuid.uuid4().hex[:6]}"
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    layer = f"shared-{uuid.uuid4().hex[:6]}"
    assert admin.put(f"/admin/experiments/{name}", json=definition(name, start, layer)).status_code == 200
    assert (
        engine.count(experiments_index(admin_settings.security_indices_prefix), {"term": {"name": name}}) == 1
    )
    with app_client(admin_settings) as other:
        listed = other.get("/admin/experiments").json()["experiments"]
        assert name in [e["name"] for e in listed]


def test_of_two_clashing_versions_stored_at_once_only_the_first_runs(admin, admin_settings, engine) -> None:
    """Two admins (or workers) each checked their definition against what was in force before the
    other's landed: the store holds both, and every worker runs the one stored first."""
    layer = f"race-{uuid.uuid4().hex[:6]}"
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    first, second = f"api_race_a_{uuid.uuid4().hex[:6]}", f"api_race_b_{uuid.uuid4().hex[:6]}"
    store = ExperimentStore(engine, experiments_index(admin_settings.security_indices_prefix))
    for name in (first, second):
        definition_ = msgspec.convert(definition(name, start, layer), Experiment)
        store.save(name, definition_, 1, "test", "racing", dt.datetime.now(dt.UTC))
    in_force = [e.name for e in admin.app.state.experiment_admin.refresh()]
    assert first in in_force and second not in in_force

"""Serving the learned ranker on the real stack (docs/ltr.md#serving): with an `ltr` champion in the
registry the service rescores the window's top with it and `explain` shows the model's score and the
features that moved it; a failure while rescoring leaves the formula's order, marked `degraded`."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import uuid
from pathlib import Path

import msgspec
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.experiments.assignment import variant_of
from quarry.experiments.definitions import Changes, Experiment, Variant
from quarry.ltr.feature_log import INDEX_PREFIX, logged_vectors
from quarry.ltr.features import FORMULA_FEATURE
from quarry.ltr.featureset import load_featureset
from quarry.ltr.ranker import ARTIFACT, LtrRanker
from quarry.search.assembly import offline_search_service
from quarry.search.schemas import SearchRequest
from tests.integration.conftest import logged_windows, training_set

QUERIES = ["running shoes", "gaming laptop", "office chair", "coffee maker", "yoga mat", "backpack", "tent"]
RATING = "rating"


@pytest.fixture(scope="module")
def with_ltr_champion(demo_catalog, engine, tmp_path_factory) -> tuple[object, str]:
    """A copy of the demo model store with an LTR champion trained to put well-rated products first
    (labels are the rating's whole stars), on windows logged through the feature log."""
    root = Path(tmp_path_factory.mktemp("ltr-store")) / "artifacts"
    shutil.copytree(demo_catalog.artifacts_dir, root)
    settings = msgspec.structs.replace(demo_catalog, artifacts_dir=str(root))
    records = logged_windows(engine, settings, QUERIES)
    featureset = load_featureset(records[0].featureset)
    column = featureset.names.index(RATING)
    data = training_set(records, lambda group: [min(4, int(r.features[column])) for r in group])
    model = LtrRanker(rounds=60)
    model.fit(data)
    store = LocalArtifactStore(root)
    version = store.publish(ARTIFACT, model.save(), {**model.metadata(), "featureset": featureset.name})
    return settings, version


def ratings(body: dict) -> list[float]:
    return [r["rating"] or 0.0 for r in body["results"]]


def test_the_champion_reranks_the_window_and_explain_names_the_features(
    app_client, with_ltr_champion
) -> None:
    settings, version = with_ltr_champion
    formula_settings = msgspec.structs.replace(settings, ltr_rescore=False)
    params = {"q": "desk lamp", "size": 10, "explain": "true"}
    with app_client(formula_settings) as formula_client:
        formula = formula_client.get("/v1/search", params=params).json()
    with app_client(settings) as client:
        learned = client.get("/v1/search", params=params)
    assert learned.status_code == 200, learned.text
    body = learned.json()
    assert body["degraded"] == []
    breakdowns = [r["score_breakdown"] for r in body["results"]]
    assert all(b["ltr"]["model"] == version for b in breakdowns)
    assert all(RATING in b["ltr"]["top_contributions"] for b in breakdowns[:3])
    assert [r["score"] for r in body["results"]] == sorted(
        (r["score"] for r in body["results"]), reverse=True
    )
    # A model that learned "well rated first" puts better-rated products on the page than the formula.
    assert sum(ratings(body)) / 10 > sum(ratings(formula)) / 10
    assert all(r["score_breakdown"]["ltr"] is None for r in formula["results"])


def search_with_broken(app_client, settings, monkeypatch, method: str, query: str) -> dict:
    """An uncached search while the feature extractor's `method` raises."""
    with app_client(msgspec.structs.replace(settings, search_cache_ttl_s=0)) as client:

        def broken(*args, **kwargs):
            raise RuntimeError(f"{method} failed")

        monkeypatch.setattr(client.app.state.search_service.features, method, broken)
        response = client.get("/v1/search", params={"q": query, "size": 10, "explain": "true"})
    assert response.status_code == 200
    body: dict = response.json()
    assert body["results"]
    return body


def test_the_champions_window_takes_its_features_from_its_own_requests(
    app_client, with_ltr_champion, monkeypatch
) -> None:
    """No feature request of its own (docs/ltr.md#computing-features): with that request broken, a
    rescored search of keyword and semantic candidates is still ranked by the model."""
    settings, version = with_ltr_champion
    body = search_with_broken(app_client, settings, monkeypatch, "extract", "warm jacket for hiking")
    assert body["degraded"] == []
    assert body["retrieval"]["semantic_candidates"] > 0
    assert all(r["score_breakdown"]["ltr"]["model"] == version for r in body["results"])


def test_a_failure_while_rescoring_leaves_the_formulas_order_marked_degraded(
    app_client, with_ltr_champion, monkeypatch
) -> None:
    settings, _ = with_ltr_champion
    body = search_with_broken(app_client, settings, monkeypatch, "vectors_for", "camping tent")
    assert "ltr" in body["degraded"]
    assert all(r["score_breakdown"]["ltr"] is None for r in body["results"])


def test_a_logged_search_keeps_the_features_the_model_scored_and_the_formulas_score(
    app_client, with_ltr_champion, engine
) -> None:
    """What the log keeps of a search a model ranked: the vectors it scored (not computed again), the
    model's version, the shown order, and the formula's score as a feature (not the model's)."""
    settings, version = with_ltr_champion
    params = {"q": "desk lamp", "size": 10, "explain": "true", "price_max": 1_000_000 + random.random()}
    with app_client(msgspec.structs.replace(settings, ltr_rescore=False)) as formula_client:
        formula = formula_client.get("/v1/search", params=params).json()
    query_id = f"ltr-{uuid.uuid4().hex}"
    with app_client(msgspec.structs.replace(settings, ltr_feature_log_share=1.0)) as client:
        learned = client.get("/v1/search", params={**params, "query_id": query_id}).json()
        assert client.app.state.search_service.feature_log.flush(timeout_s=60)
    engine.request("POST", f"/{INDEX_PREFIX}-*/_refresh")
    by_rank = sorted(logged_vectors(engine, query_id).values(), key=lambda r: r.window_rank)
    shown = learned["results"]
    assert [r.product_id for r in by_rank[: len(shown)]] == [r["product_id"] for r in shown]
    assert {r.model_version for r in by_rank} == {version}

    store = LocalArtifactStore(settings.artifacts_dir)
    metadata = store.metadata(ARTIFACT, version)
    model = LtrRanker.load({name: store.read(ARTIFACT, version, name) for name in metadata["files"]})
    rescored = model.score([r.features for r in by_rank[: len(shown)]])
    assert rescored == pytest.approx([r["score_breakdown"]["ltr"]["score"] for r in shown], abs=1e-5)

    at = load_featureset(by_rank[0].featureset).names.index(FORMULA_FEATURE)
    formula_scores = {r["product_id"]: r["score"] for r in formula["results"]}
    both = [r for r in by_rank if r.product_id in formula_scores]
    assert both
    for record in both:
        assert record.features[at] == pytest.approx(formula_scores[record.product_id], rel=1e-4)

    # The model's features came from the window's own requests; the feature request, run offline for
    # the same search at its logged time, computes the same values.
    with offline_search_service(settings, log_queries=False) as offline:
        assert offline.features is not None
        logged_at = dt.datetime.fromtimestamp(by_rank[0].now_millis / 1000, dt.UTC)
        request = SearchRequest(q=params["q"], price_max=float(params["price_max"]))
        window = offline.feature_window(request, now=logged_at)
        recomputed = offline.features.extract(window.context, [r.product_id for r in by_rank])
    for record in by_rank:
        assert record.features == pytest.approx(recomputed.vectors[record.product_id], rel=1e-6, abs=1e-9)


def test_an_experiment_variant_ranks_with_the_ltr_alias_it_names(
    app_client, with_ltr_champion, engine, pseudonyms, tmp_path
) -> None:
    """The champion puts well-rated products first; a `candidate` trained the other way round serves
    the treatment of an experiment, and only its shoppers."""
    settings, champion = with_ltr_champion
    root = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, root)
    records = logged_windows(engine, settings, QUERIES)
    featureset = load_featureset(records[0].featureset)
    column = featureset.names.index(RATING)
    data = training_set(records, lambda group: [4 - min(4, int(r.features[column])) for r in group])
    reversed_model = LtrRanker(rounds=60)
    reversed_model.fit(data)
    store = LocalArtifactStore(root)
    candidate = store.publish(
        ARTIFACT, reversed_model.save(), {**reversed_model.metadata(), "featureset": featureset.name}
    )
    store.activate(ARTIFACT, champion)  # publishing made it current: the champion stays
    store.set_alias(ARTIFACT, "candidate", candidate, "the experiment's treatment")
    experiment = Experiment(
        name=f"ltr_alias_{uuid.uuid4().hex[:6]}",
        layer="ltr",
        variants=[
            Variant("control", 0.5),
            Variant("candidate", 0.5, Changes(model_aliases={"ltr": "candidate"})),
        ],
        start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        stop=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
        primary_metric="ctr",
    )
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "ltr.json").write_bytes(msgspec.json.encode(experiment))
    local = msgspec.structs.replace(
        settings, artifacts_dir=str(root), experiments_dir=str(tmp_path / "definitions"), canary_share=0.0
    )
    users = [f"ltr-exp-{n}" for n in range(40)]
    by_variant = {variant_of(experiment, pseudonyms.user(u)): u for u in users}
    with app_client(local) as client:
        bodies = {
            variant: client.get(
                "/v1/search", params={"q": "desk lamp", "size": 10, "explain": "true", "user_id": user}
            ).json()
            for variant, user in by_variant.items()
        }
    for variant, expected in (("control", champion), ("candidate", candidate)):
        body = bodies[variant]
        assert body["experiments"] == [{"experiment": experiment.name, "variant": variant}]
        assert {r["score_breakdown"]["ltr"]["model"] for r in body["results"]} == {expected}
    assert sum(ratings(bodies["candidate"])) < sum(ratings(bodies["control"]))

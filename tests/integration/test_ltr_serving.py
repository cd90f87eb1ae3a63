"""Serving the learned ranker on the real stack (docs/ltr.md#serving): with an `ltr` champion in the
registry the service rescores the window's top with it and `explain` shows the model's score and the
features that moved it; a failure while rescoring leaves the formula's order, marked `degraded`."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.ltr.feature_log import FeatureRecord
from quarry.ltr.featureset import load_featureset
from quarry.ltr.ranker import ARTIFACT, LtrRanker, TrainingSet
from tests.integration.conftest import logged_windows

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
    groups: dict[str, list[FeatureRecord]] = {}
    for record in records:
        groups.setdefault(record.query_id, []).append(record)
    data = TrainingSet(
        names=featureset.names,
        queries=[g[0].query for g in groups.values()],
        groups=[len(g) for g in groups.values()],
        features=[r.features for g in groups.values() for r in g],
        labels=[min(4, int(r.features[column])) for g in groups.values() for r in g],
        weights=[1.0] * len(groups),
        products=[r.product_id for g in groups.values() for r in g],
    )
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


def test_a_failure_while_rescoring_leaves_the_formulas_order_marked_degraded(
    app_client, with_ltr_champion, monkeypatch
) -> None:
    settings, _ = with_ltr_champion
    with app_client(msgspec.structs.replace(settings, search_cache_ttl_s=0)) as client:
        service = client.app.state.search_service

        def broken(*args, **kwargs):
            raise RuntimeError("feature request failed")

        monkeypatch.setattr(service.features, "extract", broken)
        response = client.get("/v1/search", params={"q": "camping tent", "size": 10, "explain": "true"})
    assert response.status_code == 200
    body = response.json()
    assert "ltr" in body["degraded"] and body["results"]
    assert all(r["score_breakdown"]["ltr"] is None for r in body["results"])

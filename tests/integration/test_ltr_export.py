"""Export to the OpenSearch LTR plugin (docs/ltr.md#export-to-the-plugin): the feature set and a
model trained on logged vectors are written in the plugin's REST formats, valid against the
documented schemas, and the model read back from the exported JSON scores 1,000 logged vectors as
the XGBoost booster does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from pipelines.golden import load_judgments
from pipelines.ltr.export import export
from quarry.ltr.feature_log import FeatureRecord
from quarry.ltr.featureset import load_featureset
from quarry.ltr.ranker import LtrRanker, TrainingSet, TreeEnsemble
from quarry.settings import PROJECT_ROOT
from tests.integration.conftest import logged_windows

SCHEMAS = PROJECT_ROOT / "ltr_models" / "schemas"
QUERIES = [
    "running shoes",
    "gaming laptop",
    "office chair",
    "coffee maker",
    "yoga mat",
    "backpack",
    "wireless headphones",
    "desk lamp",
    "tent",
    "blender",
    "sneakers",
    "dress",
    "lego city",
]


@pytest.fixture(scope="module")
def logged(engine, demo_catalog) -> list[FeatureRecord]:
    return logged_windows(engine, demo_catalog, QUERIES)


def test_the_export_is_valid_and_the_exported_model_scores_as_the_booster(logged, tmp_path: Path) -> None:
    assert len(logged) >= 1000
    judgments = load_judgments()
    by_query: dict[str, list[FeatureRecord]] = {}
    for record in logged:
        by_query.setdefault(record.query_id, []).append(record)
    features, labels, groups, queries, products = [], [], [], [], []
    for records in by_query.values():
        records.sort(key=lambda r: r.window_rank)
        graded = judgments.get(records[0].query, {})
        features += [r.features for r in records]
        labels += [graded.get(r.product_id, 0) for r in records]
        groups.append(len(records))
        queries.append(records[0].query)
        products += [r.product_id for r in records]
    featureset = load_featureset(logged[0].featureset)
    data = TrainingSet(featureset.names, queries, groups, features, labels, [1.0] * len(groups), products)
    model = LtrRanker(rounds=40)
    model.fit(data)

    written = export(featureset, model.dump(), "quarry_ltr_test", tmp_path)
    assert {p.name for p in written} == {"featureset.json", "model.json", "rescore-query.json", "upload.sh"}
    featureset_body = json.loads((tmp_path / "featureset.json").read_text())
    model_body = json.loads((tmp_path / "model.json").read_text())
    jsonschema.validate(featureset_body, json.loads((SCHEMAS / "featureset.schema.json").read_text()))
    jsonschema.validate(model_body, json.loads((SCHEMAS / "xgboost-model.schema.json").read_text()))
    splits = model_body["model"]["model"]["definition"]["splits"]
    feature_names = {f["name"] for f in featureset_body["featureset"]["features"]}

    def check(node: dict) -> None:  # the plugin's own checks: children order and known features
        if "leaf" in node:
            return
        assert node["split"] in feature_names
        assert [c["nodeid"] for c in node["children"]] == [node["yes"], node["no"]]
        for child in node["children"]:
            check(child)

    for tree in splits:
        check(tree)
    reader = TreeEnsemble(splits, featureset.names)
    vectors = [r.features for r in logged[:1000]]
    assert [reader.score(v) for v in vectors] == pytest.approx(model.score(vectors), abs=1e-5)
    rescore = json.loads((tmp_path / "rescore-query.json").read_text())
    assert set(rescore["rescore"]["query"]["rescore_query"]["sltr"]["params"]) == set(featureset.params)
    assert subprocess.run(["bash", "-n", str(tmp_path / "upload.sh")], check=False).returncode == 0

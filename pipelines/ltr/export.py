"""`make ltr-export`: the feature set and a registered LTR model in the OpenSearch LTR plugin's REST
formats, with a script that uploads both and the `sltr` rescore query that uses them
(docs/ltr.md#export-to-the-plugin). Quarry ranks in its own service; a cluster that has the plugin
can rescore with the same features and model instead.

Files written (to `--out`, default var/ltr-export/):
- `featureset.json`: the body of `POST _ltr/_featureset/<name>`;
- `model.json`: the body of `POST _ltr/_featureset/<name>/_createmodel`, `model/xgboost+json` with
  the tree dump and its objective (the plugin adds no base score; the model was trained with 0);
- `rescore-query.json`: a search whose top window is rescored by the model;
- `upload.sh`: creates the feature store if needed, then uploads the set and the model with curl.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quarry.ltr.features import FeatureContext
from quarry.ltr.featureset import FeatureSet
from quarry.ltr.ranker import OBJECTIVE

RESCORE_WINDOW = 100


def model_body(model_name: str, trees: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": {
            "name": model_name,
            "model": {"type": "model/xgboost+json", "definition": {"objective": OBJECTIVE, "splits": trees}},
        }
    }


def rescore_query(featureset: FeatureSet, model_name: str) -> dict[str, Any]:
    """The first-stage BM25 query and the model over its top RESCORE_WINDOW per shard. Every param
    of the feature set is sent: the service-side ones as maps by product id, which the script
    features read (empty maps give 0, as in training). They are the feature context's own fields, so
    a param added to the context is sent here too."""
    example = FeatureContext(
        keywords="gaming laptop", corrected="gaming laptop", now_millis=1764547200000, half_life_days=180.0
    )
    params = example.params()
    missing = sorted(set(featureset.params) - set(params))
    if missing:
        raise ValueError(f"the example query sends no value for {missing}")
    return {
        "query": {
            "multi_match": {"query": params["keywords"], "fields": ["title^3", "brand.text^2", "description"]}
        },
        "rescore": {
            "window_size": RESCORE_WINDOW,
            "query": {
                "rescore_query": {"sltr": {"params": params, "model": model_name}},
                "query_weight": 0.0,
                "rescore_query_weight": 1.0,
            },
        },
    }


UPLOAD = """#!/usr/bin/env bash
# Upload Quarry's LTR feature set and model to a cluster with the Learning-to-Rank plugin.
# Usage: OPENSEARCH_URL=https://host:9200 ./upload.sh   (add CURL_OPTS="-u user:pass" as needed)
set -euo pipefail
cd "$(dirname "$0")"
url=${OPENSEARCH_URL:-http://127.0.0.1:9200}
opts=(${CURL_OPTS:-})
# The default feature store: created once, an error here means it exists already.
curl -s "${opts[@]}" -X PUT "$url/_ltr" >/dev/null || true
curl -sf "${opts[@]}" -X POST "$url/_ltr/_featureset/%(featureset)s" -H 'Content-Type: application/json' \\
  --data-binary @featureset.json
echo
curl -sf "${opts[@]}" -X POST "$url/_ltr/_featureset/%(featureset)s/_createmodel" \\
  -H 'Content-Type: application/json' --data-binary @model.json
echo
echo "rescore with: curl -s -X POST $url/<index>/_search -H 'Content-Type: application/json' \\
  --data-binary @rescore-query.json"
"""


def export(
    featureset: FeatureSet,
    trees: list[dict[str, Any]],
    model_name: str,
    out: Path,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "featureset.json": featureset.plugin_body(),
        "model.json": model_body(model_name, trees),
        "rescore-query.json": rescore_query(featureset, model_name),
    }
    written = []
    for name, body in files.items():
        path = out / name
        path.write_text(json.dumps(body, indent=2) + "\n")
        written.append(path)
    script = out / "upload.sh"
    script.write_text(UPLOAD % {"featureset": featureset.name})
    script.chmod(0o755)
    return [*written, script]

"""Feature sets in the OpenSearch LTR plugin's own format (`ltr_models/featuresets/<name>.json`, the
body of `POST _ltr/_featureset/<name>`), read by the service that computes them itself.

Two kinds, as the plugin has them:
- `mustache` templates: queries with the query's words as params (BM25 on a field, a phrase, an
  entity term). The service runs them as named queries on the window; a cluster with the plugin runs
  them inside `sltr`.
- `script_feature`: painless over a product's doc values and per-request params (maps of product id
  to a value the service computed: semantic similarity, ALS affinity, candidate ranks). The service
  computes the same value in Python (quarry/ltr/features.py); a test runs each script in OpenSearch
  and compares.

A feature that does not match a product is 0 on both sides (the plugin's `missing_as_zero`, and
what its 3.x releases do with XGBoost's missing branch anyway: docs/ltr.md#missing-values).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from quarry.settings import PROJECT_ROOT, Settings

FEATURESET_DIR = PROJECT_ROOT / "ltr_models" / "featuresets"
DEFAULT_FEATURESET: str = next(
    f.default for f in msgspec.structs.fields(Settings) if f.name == "ltr_featureset"
)


class FeatureDefinition(msgspec.Struct, frozen=True):
    name: str
    params: list[str]
    template_language: Literal["mustache", "script_feature"]
    template: dict[str, Any]


class FeatureSetBody(msgspec.Struct, frozen=True):
    name: str
    features: list[FeatureDefinition]


class FeatureSetFile(msgspec.Struct, frozen=True):
    featureset: FeatureSetBody


class FeatureSet(msgspec.Struct, frozen=True):
    name: str
    features: list[FeatureDefinition]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def templated(self) -> list[FeatureDefinition]:
        return [f for f in self.features if f.template_language == "mustache"]

    @property
    def scripted(self) -> list[FeatureDefinition]:
        return [f for f in self.features if f.template_language == "script_feature"]

    @property
    def params(self) -> list[str]:
        """Every param an `sltr` query of this set must send."""
        return sorted({p for f in self.features for p in f.params})

    def plugin_body(self) -> dict[str, Any]:
        """What `POST _ltr/_featureset/<name>` takes."""
        return {"featureset": msgspec.to_builtins(FeatureSetBody(self.name, self.features))}


def load_featureset(name: str = DEFAULT_FEATURESET, directory: Path = FEATURESET_DIR) -> FeatureSet:
    path = directory / f"{name}.json"
    parsed = msgspec.json.decode(path.read_bytes(), type=FeatureSetFile)
    if parsed.featureset.name != name:
        raise ValueError(f"{path} names its feature set {parsed.featureset.name!r}, not {name!r}")
    seen: set[str] = set()
    for feature in parsed.featureset.features:
        if feature.name in seen:
            raise ValueError(f"{path}: feature {feature.name!r} is defined twice")
        seen.add(feature.name)
    return FeatureSet(parsed.featureset.name, parsed.featureset.features)


def template_text(template: Any) -> str:
    """A template as the text `fill` fills (computed once per feature set, not per search)."""
    return json.dumps(template)


def fill(text: str, params: Mapping[str, str]) -> str:
    """`{{name}}` in a template's text replaced by its param, JSON-escaped, so a quote in a query
    cannot break out of its string."""
    for name, value in params.items():
        text = text.replace("{{" + name + "}}", json.dumps(value)[1:-1])
    return text


def render(template: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """A mustache feature's query with its params filled in, as the plugin renders it: the text of
    the JSON template with `{{name}}` replaced."""
    rendered: dict[str, Any] = json.loads(fill(template_text(template), params))
    return rendered

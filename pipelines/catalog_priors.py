"""Builds the catalog priors (quarry/catalog_priors.py) from the live products index and publishes
them as a versioned artifact: `make up` (when none exists), `python -m pipelines catalog-priors`
and the daily `catalog_priors` DAG."""

from __future__ import annotations

import datetime as dt

from tqdm import tqdm

from pipelines.bench.report import commit
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine
from quarry.catalog_priors import ARTIFACT, CatalogItem, CatalogPriors, PriorParameters


def build_and_publish(
    engine: SearchEngine,
    store: ArtifactStore,
    alias: str,
    now: dt.datetime,
    parameters: PriorParameters | None = None,
) -> str:
    live = engine.alias_targets(alias)
    items = [
        CatalogItem(
            product_id=str(hit.source["product_id"]),
            department=str(hit.source.get("category_lvl1") or ""),
            rating=hit.source.get("rating"),
            review_count=int(hit.source.get("review_count") or 0),
            in_stock=hit.source.get("in_stock") is not False,
            created_at=hit.source.get("created_at"),
        )
        for hit in tqdm(engine.scan(alias), desc="catalog priors", unit="doc", disable=None)
    ]
    model = CatalogPriors(parameters)
    model.fit(items, now)
    metadata = {
        **model.metadata(),
        "data_window": {"source_index": live[0] if live else None, "catalog_at": now.isoformat()},
        "input_snapshot": {"products_alias": alias, "index": live[0] if live else None},
        "code_commit": commit(),
    }
    return store.publish(ARTIFACT, model.save(), metadata)

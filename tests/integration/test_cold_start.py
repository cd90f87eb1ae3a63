"""Cold start: before any events, recommendations come from catalog priors built from the real
products index, and say so; with a few events, the popular items come first and priors fill up."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from api.recommendations.services import RecommendationService
from pipelines.catalog_priors import build_and_publish
from pipelines.indexing.versions import build_from_documents
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.catalog_priors import ARTIFACT
from quarry.redis_keys import popular_key
from tests.conftest import make_product, shopper_privacy

RECENT = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat()


def catalog(department: str) -> list:
    return [
        make_product(
            f"CS{n}",
            f"Lamp {n}",
            category_path=[department, "Lighting", "Lamps"],
            rating=4.0 + n / 10,
            review_count=10 * (n + 1),
            created_at=RECENT,
            in_stock=n != 9,
        )
        for n in range(10)
    ]


def test_a_new_user_on_a_shop_without_events_gets_k_well_rated_items(
    engine, store, settings, alias, tmp_path
) -> None:
    department = f"Cold {uuid.uuid4().hex[:6]}"  # no popular list exists for it in Redis
    products = catalog(department)
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])
    artifacts = LocalArtifactStore(tmp_path)
    version = build_and_publish(engine, artifacts, alias, dt.datetime.now(dt.UTC))
    service = RecommendationService(artifacts, store, reload_interval_s=0, privacy=shopper_privacy())

    response = service.for_user("brand-new-user", 5, department, None, track=False)

    assert response.strategy == "catalog_priors" and response.model_version == version
    # Highest rated with most reviews first; CS9 is out of stock.
    assert [item.product_id for item in response.items] == ["CS8", "CS7", "CS6", "CS5", "CS4"]
    assert all(item.reason == f"well rated in {department}" for item in response.items)
    assert artifacts.metadata(ARTIFACT, version)["data_window"]["source_index"].startswith(alias)
    assert artifacts.metadata(ARTIFACT, version)["input_snapshot"]["products_alias"] == alias
    assert artifacts.metadata(ARTIFACT, version)["code_commit"]


def test_the_few_popular_items_come_first_and_priors_fill_up_to_k(
    engine, store, settings, alias, tmp_path
) -> None:
    department = f"Warm {uuid.uuid4().hex[:6]}"
    products = catalog(department)
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])
    artifacts = LocalArtifactStore(tmp_path)
    build_and_publish(engine, artifacts, alias, dt.datetime.now(dt.UTC))
    store.set(popular_key(department, 50), msgspec.json.encode(["CS2", "CS8"]), ttl_s=60)
    service = RecommendationService(artifacts, store, reload_interval_s=0, privacy=shopper_privacy())

    response = service.for_user(None, 4, department, None, track=False)

    assert response.strategy == "popularity+catalog_priors"
    assert [item.product_id for item in response.items] == ["CS2", "CS8", "CS7", "CS6"]
    assert [item.reason.split(" in ")[0] for item in response.items] == ["popular"] * 2 + ["well rated"] * 2

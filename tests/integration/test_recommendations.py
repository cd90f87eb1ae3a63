"""Recommendation strategies over a real ALS artifact (trained here) with Redis session signals."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import msgspec
import numpy as np
import pytest

from api.recommendations.services import RecommendationService
from pipelines.recommend.train import Interaction, serving_files, to_matrix
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.recommenders import ARTIFACT, ALSRecommender
from quarry.redis_keys import session_key
from tests.conftest import shopper_privacy


def history(seed: int = 0) -> list[Interaction]:
    """Toy fans and book fans; u-four has 4 interactions, u-five 5; toy0 was bought by t0."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(30):
        group = "toy" if user < 15 else "book"
        for item in rng.choice(12, size=6, replace=False):
            rows.append(
                Interaction(f"{group[0]}{user}", f"{group}{item}", "click", f"2026-11-20T00:{user:02d}:00Z")
            )
    rows += [Interaction("t0", "toy0", "purchase", "2026-11-21T00:00:00Z")]
    rows += [Interaction("u-four", f"book{i}", "click", "2026-11-21T00:00:00Z") for i in range(4)]
    rows += [Interaction("u-five", f"toy{i}", "click", "2026-11-21T00:00:00Z") for i in range(5)]
    return sorted(rows, key=lambda r: r.at)


def publish(store: LocalArtifactStore, seed: int = 0, user: Callable[[str], str] = str) -> str:
    """`user`: how the shoppers' ids are stored (the app looks them up by pseudonym)."""
    rows = [msgspec.structs.replace(row, user=user(row.user)) for row in history(seed)]
    data = to_matrix(rows)
    model = ALSRecommender(factors=8, iterations=15, regularization=0.01, seed=seed)
    model.fit(data)
    departments = {item: "Toys" if item.startswith("toy") else "Books" for item in data.item_ids}
    return store.publish(
        ARTIFACT, {**model.save(), **serving_files(rows, data, departments)}, model.metadata()
    )


@pytest.fixture
def service(tmp_path, store) -> RecommendationService:
    artifacts = LocalArtifactStore(tmp_path)
    publish(artifacts)
    return RecommendationService(artifacts, store, reload_interval_s=0, privacy=shopper_privacy())


def test_cold_start_switches_to_collaborative_at_five_interactions(service) -> None:
    assert service.for_user("u-four", 5, None, None, track=False).strategy == "popularity"
    assert service.for_user("u-five", 5, None, None, track=False).strategy == "collaborative"
    assert service.for_user("never-seen", 5, None, None, track=False).strategy == "popularity"


def test_different_tastes_get_different_recommendations(service) -> None:
    toy_fan = [i.product_id for i in service.for_user("t1", 5, None, None, track=False).items]
    book_fan = [i.product_id for i in service.for_user("b20", 5, None, None, track=False).items]
    assert sum(i.startswith("toy") for i in toy_fan) >= 4 and sum(i.startswith("book") for i in book_fan) >= 4
    assert not set(toy_fan) & set(book_fan)


def test_purchases_are_excluded_and_category_filters(service) -> None:
    assert "toy0" not in [i.product_id for i in service.for_user("t0", 12, None, None, track=False).items]
    books = service.for_user("t1", 5, "Books", None, track=False).items
    assert books and all(i.product_id.startswith("book") for i in books)


def test_a_session_personalizes_an_unknown_user(service, store) -> None:
    session = f"s-{uuid.uuid4().hex[:8]}"
    store.push_recent({session_key(session): ["book1", "book2"]}, keep=20, ttl_s=60)
    response = service.for_user("never-seen", 5, None, session, track=False)
    assert response.strategy == "session"
    assert all(
        i.product_id.startswith("book") and i.product_id not in {"book1", "book2"} for i in response.items
    )


def test_similar_items_never_return_the_item(service) -> None:
    similar = service.similar("toy3", 5)
    ids = [i.product_id for i in similar.items]
    assert "toy3" not in ids and sum(i.startswith("toy") for i in ids) >= 4
    assert [i.score for i in similar.items] == sorted((i.score for i in similar.items), reverse=True)


def test_hot_swap_without_failed_requests(app_client, settings, tmp_path) -> None:
    artifacts = LocalArtifactStore(tmp_path)
    first = publish(artifacts, seed=0)
    local = msgspec.structs.replace(settings, artifacts_dir=str(tmp_path), artifact_reload_interval_s=0.0)
    failures: list[int] = []
    versions: set[str] = set()
    with app_client(local) as client:
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                response = client.get("/v1/recommendations", params={"user_id": "t1", "k": 5})
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    versions.add(response.json()["model_version"])

        thread = threading.Thread(target=hammer)
        thread.start()
        while first not in versions and not failures:
            time.sleep(0.01)
        second = publish(artifacts, seed=1)  # the swap happens while requests keep coming
        deadline = time.monotonic() + 30
        while second not in versions and not failures and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join()
    assert failures == []
    assert {first, second} <= versions


def test_als_affinity_for_search_ranking(service) -> None:
    items = [f"toy{i}" for i in range(12)] + [f"book{i}" for i in range(12)]
    affinity = service.product_affinity("t1", [*items, "unknown-item"])
    assert max(affinity.values()) == 1.0 and min(affinity.values()) >= 0.0 and "unknown-item" not in affinity
    toys = sum(affinity.get(f"toy{i}", 0) for i in range(12))
    books = sum(affinity.get(f"book{i}", 0) for i in range(12))
    assert toys > 3 * books  # a toy fan's affinity sits with toys
    assert service.product_affinity("u-four", ["toy1"]) == {}  # not known enough to personalize
    assert service.product_affinity(None, ["toy1"]) == {}

"""ALS through the registry on the real stack: `make train-als` (jobs.train_als) trains on the events
of an index, registers a candidate with held-out metrics, and the gate decides what is served."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import numpy as np
import pytest

from pipelines import jobs
from pipelines.indexing.versions import build_from_documents
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.adapters.search_engine import index_action
from quarry.recommenders import ARTIFACT
from tests.conftest import make_product


def put_tastes(engine, index: str, users: int, seed: int) -> None:
    """Toy fans click toys, book fans click books, over the last three days."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for user in range(users):
        group = "toy" if user % 2 else "book"
        for step, item in enumerate(rng.choice(12, size=8, replace=False)):
            at = now - dt.timedelta(hours=72) + dt.timedelta(hours=step * 8 + user % 7)
            rows.append(
                {
                    "event_id": uuid.uuid4().hex,
                    "user_id": f"u{user}",
                    "action_name": "click",
                    "object_id": f"{group}{item}",
                    "timestamp": at.isoformat(),
                }
            )
    engine.bulk(b"".join(index_action(index, row["event_id"], row) for row in rows))
    engine.refresh(index)


def put_toys_and_books(engine, settings, alias: str) -> None:
    """The twelve toys and twelve books the shoppers of `put_tastes` click."""
    products = [
        make_product(f"{group}{n}", f"{group} {n}", category_path=[group.title(), "All", "All"])
        for group in ("toy", "book")
        for n in range(12)
    ]
    build_from_documents(engine, settings, alias, ((p.product_id, p.to_document()) for p in products), [])


@pytest.fixture
def shop(engine, settings, alias, events_index, tmp_path):
    put_toys_and_books(engine, settings, alias)
    put_tastes(engine, events_index, users=60, seed=1)
    return msgspec.structs.replace(
        settings, products_alias=alias, artifacts_dir=str(tmp_path), registry_mirror="none"
    )


def test_the_first_model_becomes_champion_and_a_worse_one_stays_a_candidate(shop, events_index) -> None:
    store = LocalArtifactStore(shop.artifacts_dir)
    first = jobs.train_als(shop, events_index=events_index, params={"factors": 8, "iterations": 10})

    assert first["promoted"] and store.current(ARTIFACT) == first["version"]
    metrics = store.metadata(ARTIFACT, first["version"])["metrics"]
    assert metrics["heldout_users"] > 0 and metrics["heldout_ndcg_at_10"] > 0
    assert store.metadata(ARTIFACT, first["version"])["input_snapshot"]["events"] == events_index

    # One iteration of a single factor learns next to nothing: its held-out NDCG falls below the gate.
    worse = jobs.train_als(
        shop, events_index=events_index, params={"factors": 1, "iterations": 1, "regularization": 100.0}
    )
    worse_ndcg = store.metadata(ARTIFACT, worse["version"])["metrics"]["heldout_ndcg_at_10"]
    assert worse_ndcg < metrics["heldout_ndcg_at_10"] - 0.01, "the test's weak model must be worse"
    assert not worse["promoted"] and "<" in worse["gate"][0]
    # Both were scored as served on the weak model's own held-out split: the same data.
    record = store.metadata(ARTIFACT, worse["version"])["metrics"]
    assert store.metadata(ARTIFACT, worse["version"])["compared_with"] == first["version"]
    assert record["champion_heldout_served_ndcg_at_10"] > record["heldout_served_ndcg_at_10"] + 0.01
    assert "both as served, on the candidate's held-out split" in worse["gate"][0]
    assert store.current(ARTIFACT) == first["version"]
    assert store.aliases(ARTIFACT) == {"candidate": worse["version"], "champion": first["version"]}

"""Spelling corrections and vocabularies built from the real demo catalog."""

from __future__ import annotations

import time

import pytest

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.understanding.services import QueryUnderstanding
from quarry.vocabulary import ARTIFACT

# What shoppers type -> what the pipeline must search for (auto-corrected, confidence >= 0.8).
MISSPELLINGS = {
    "runnig shoes": "running shoes",
    "snekers": "sneakers",
    "backpak": "backpack",
    "hedphones": "headphones",
    "televison": "television",
    "refrigirator": "refrigerator",
    "cofee maker": "coffee maker",
    "blendr": "blender",
    "wireles mouse": "wireless mouse",
    "slepping bag": "sleeping bag",
    "watter bottle": "water bottle",
    "lipstik": "lipstick",
    "keybord": "keyboard",
    "cookboook": "cookbook",
    "strawberies": "strawberries",
}
UNCHANGED = [
    "nike air max 90",
    "asics gel-kayano 30",
    "samsung galaxy s24",
    "levi's t-shirt",
    "best headphones",
    "cheap sofa",
    "lego technic",
    "hydro flask 32 oz",
]


@pytest.fixture(scope="module")
def understanding(demo_catalog) -> QueryUnderstanding:
    return QueryUnderstanding(LocalArtifactStore(demo_catalog.artifacts_dir), 0.8, 30)


@pytest.mark.parametrize(("typed", "expected"), sorted(MISSPELLINGS.items()))
def test_misspellings_are_corrected(understanding, typed, expected) -> None:
    assert understanding.understand(typed).corrected == expected


@pytest.mark.parametrize("query", UNCHANGED)
def test_brands_models_and_shopper_words_are_left_alone(understanding, query) -> None:
    understood = understanding.understand(query)
    assert understood.corrected is None and understood.did_you_mean is None


def test_a_new_artifact_version_goes_live_without_restart(demo_catalog, tmp_path) -> None:
    source = LocalArtifactStore(demo_catalog.artifacts_dir)
    store = LocalArtifactStore(tmp_path)
    version = source.current(ARTIFACT)
    files = {
        name: source.read(ARTIFACT, version, name) for name in source.metadata(ARTIFACT, version)["files"]
    }
    understanding = QueryUnderstanding(store, 0.8, reload_interval_s=0)
    assert understanding.degraded and understanding.understand("runnig shoes").corrected is None
    store.publish(ARTIFACT, files, {"note": "copy"})
    # The new lexicon loads off the request path (seconds): requests keep the old model meanwhile.
    deadline = time.monotonic() + 60
    while understanding.understand("runnig shoes").corrected is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert understanding.understand("runnig shoes").corrected == "running shoes"
    assert not understanding.degraded and understanding.version == store.current(ARTIFACT)
    # Remembered per model version: the same object again, never the pre-artifact answer above.
    assert understanding.understand("runnig shoes") is understanding.understand("runnig shoes")


@pytest.mark.parametrize(
    ("query", "field"),
    [("55 inch tv", "attributes.screen"), ("blender under 100", "price"), ("4 stars and up tent", "rating")],
)
def test_numbers_of_the_named_product_are_filters(understanding, query, field) -> None:
    understood = understanding.understand(query)
    assert [f.field for f in understood.filters] == [field] or (field == "price" and understood.filters)


@pytest.mark.parametrize(
    "query",
    [
        "12 inch skillet with lid",
        "65 inch tv stand",
        "tv wall mount for 65 inch tv",
        "6 ft ladder",
        "nike air max 90",
    ],
)
def test_numbers_of_other_products_stay_text(understanding, query) -> None:
    """A unit filter on a product whose category lacks the attribute would empty the page."""
    assert understanding.understand(query).filters == ()


def test_entities_are_read_without_the_numbers(understanding) -> None:
    assert understanding.understand("blender under 100").entities.category == ("Small Appliances",)

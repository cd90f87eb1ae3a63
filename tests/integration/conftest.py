import json
import uuid
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def understanding_as_served(demo_catalog):
    """Query understanding of the demo catalog's artifacts built as the API builds it: with the query
    encoder and the category prototypes (quarry/understanding/meaning.py)."""
    from pipelines.query_sets import understanding_as_served

    return understanding_as_served(demo_catalog)


@pytest.fixture
def events_index(engine, settings):
    """A fresh events index with the UBI events mapping, deleted afterwards."""
    name = f"qt-events-{uuid.uuid4().hex[:8]}"
    engine.create_index(name, json.loads((Path(settings.mappings_dir) / "ubi_events.json").read_text()))
    yield name
    engine.delete_index(name)

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


def logged_windows(engine, settings, queries: list[str]) -> list:
    """The windows of `queries`, logged through the LTR feature log (as a replay) under query ids of
    this call and read back from its indices, in (search, window rank) order."""
    import msgspec

    from quarry.ltr.feature_log import INDEX_PREFIX, FeatureLog, FeatureRecord
    from quarry.search.assembly import offline_search_service
    from quarry.search.schemas import SearchRequest

    run = f"logged-{uuid.uuid4().hex[:8]}-"
    with offline_search_service(settings, log_queries=False) as service:
        assert service.features is not None
        feature_log = FeatureLog(engine, service.features, service.feature_window, share=1.0)
        for n, query in enumerate(queries):
            feature_log.log_now(SearchRequest(q=query), f"{run}{n}", source="replay")
    engine.request("POST", f"/{INDEX_PREFIX}-*/_refresh")
    hits = engine.search(f"{INDEX_PREFIX}-*", {"size": 10_000, "query": {"prefix": {"query_id": run}}}).hits
    records = [msgspec.convert(h.source, FeatureRecord) for h in hits]
    return sorted(records, key=lambda r: (r.query_id, r.window_rank))


def training_set(records: list, labels) -> object:
    """A TrainingSet of logged windows, one group per search; `labels(group)` grades a group's
    records (in window order)."""
    from quarry.ltr.featureset import load_featureset
    from quarry.ltr.ranker import TrainingSet

    groups: dict[str, list] = {}
    for record in records:
        groups.setdefault(record.query_id, []).append(record)
    return TrainingSet(
        names=load_featureset(records[0].featureset).names,
        queries=[g[0].query for g in groups.values()],
        groups=[len(g) for g in groups.values()],
        features=[r.features for g in groups.values() for r in g],
        labels=[label for g in groups.values() for label in labels(g)],
        weights=[1.0] * len(groups),
        products=[r.product_id for g in groups.values() for r in g],
    )

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def understanding_as_served(demo_catalog):
    """Query understanding of the demo catalog's artifact built as the API builds it: with the query
    encoder, which weighs an unknown word's readings by meaning (api/understanding/meaning.py)."""
    from api.understanding.meaning import EncoderRelatedness
    from api.understanding.services import QueryUnderstanding
    from quarry.adapters.artifact_store import LocalArtifactStore
    from quarry.onnx_encoder import load_query_encoder

    store = LocalArtifactStore(demo_catalog.artifacts_dir)
    relatedness = EncoderRelatedness(load_query_encoder(demo_catalog, store))
    return QueryUnderstanding(store, 0.8, 30, 0.5, relatedness)

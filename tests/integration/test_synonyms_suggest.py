"""make synonyms-suggest on real logs: searches and clicks go through the API into the real UBI stores,
and the miner reads them back from OpenSearch."""

from __future__ import annotations

import pytest

from pipelines.synonyms.suggest import behaviour_pairs, engaged_products
from quarry.ubi import UBI_EVENTS, UBI_QUERIES, clicked_queries
from tests.conftest import make_event

pytestmark = pytest.mark.integration


def test_two_queries_whose_clicks_land_on_the_same_products_are_suggested(api_client, engine) -> None:
    for text in ("sofa divan", "sofa daybed"):
        for n in range(3):
            search = api_client.get("/v1/search", params={"q": text, "user_id": "it-synonyms"}).json()
            for product in ("P000001", "P000002"):
                event = make_event(query_id=search["query_id"], object_id=product, user_id="it-synonyms")
                assert api_client.post("/v1/events", json={"events": [event]}).status_code == 202, n
    assert api_client.app.state.search_service.query_log.flush()
    engine.refresh(UBI_QUERIES)
    engine.refresh(UBI_EVENTS)
    pairs = behaviour_pairs(engaged_products(engine), clicked_queries(engine, 20_000))
    found = [c for c in pairs if (c.first, c.second) == ("daybed", "divan")]
    assert found and found[0].source == "behaviour" and found[0].score == 1.0

"""Position-bias exploration on the real app (quarry/search/exploration.py): a share of first pages
is shown with neighbouring results swapped, the UBI query record says so, and nothing else is
touched: later pages, other sorts and the cached page itself."""

from __future__ import annotations

import msgspec
import pytest

from quarry.ubi import UBI_QUERIES

QUERY = "wireless headphones"


@pytest.fixture(scope="module")
def exploring(app_client, demo_catalog):
    with app_client(msgspec.structs.replace(demo_catalog, exploration_share=0.5)) as client:
        yield client


def _ids(body: dict) -> list[str]:
    return [r["product_id"] for r in body["results"]]


def _moved_by_at_most_one(ranked: list[str], shown: list[str]) -> bool:
    return sorted(ranked) == sorted(shown) and all(abs(ranked.index(p) - i) <= 1 for i, p in enumerate(shown))


def test_a_share_of_first_pages_is_shown_with_neighbours_swapped_and_recorded(exploring, engine) -> None:
    answers = []
    for _ in range(30):
        response = exploring.get("/v1/search", params={"q": QUERY, "size": 12})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    exploring.app.state.search_service.query_log.flush()
    engine.refresh(UBI_QUERIES)
    records = {a["query_id"]: engine.get_document(UBI_QUERIES, a["query_id"]) for a in answers}
    plain = [a for a in answers if "exploration" not in records[a["query_id"]]["query_attributes"]]
    swapped = [a for a in answers if "exploration" in records[a["query_id"]]["query_attributes"]]
    assert plain and swapped  # each has probability 2^-30 of being empty
    ranked = _ids(plain[0])
    assert all(_ids(a) == ranked for a in plain)  # the cache keeps the ranked page
    for answer in swapped:
        shown, phase = _ids(answer), records[answer["query_id"]]["query_attributes"]["exploration"]
        assert shown != ranked and _moved_by_at_most_one(ranked, shown)
        assert shown[10:] == ranked[10:]  # below the exploration depth nothing moves
        assert (shown[0] == ranked[0]) == (phase == 1)  # phase 1 leaves the top result in place
        assert records[answer["query_id"]]["query_response_hit_ids"] == shown  # logged as shown


def test_later_pages_and_other_sorts_are_shown_as_ranked(exploring, engine) -> None:
    for params in ({"q": QUERY, "page": 2}, {"q": QUERY, "sort": "price_asc"}):
        answers = [exploring.get("/v1/search", params=params).json() for _ in range(12)]
        assert all(_ids(a) == _ids(answers[0]) for a in answers), params
        exploring.app.state.search_service.query_log.flush()
        engine.refresh(UBI_QUERIES)
        for answer in answers:
            record = engine.get_document(UBI_QUERIES, answer["query_id"])
            assert "exploration" not in record["query_attributes"]

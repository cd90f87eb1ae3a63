"""The simulated shoppers of `make simulate-recommendations`: they click what suits them, and every
event names the answer it came from (its request id), credited to the alias that served it."""

from __future__ import annotations

from typing import Any

from pipelines.recommend.traffic import RecommendationShoppers, markdown
from pipelines.simulator import Preferences, SearchHit

TOYS = {f"T{n}": SearchHit(f"T{n}", "Acme", "Toys", 20.0) for n in range(10)}
BOOKS = {f"B{n}": SearchHit(f"B{n}", "Inkwell", "Books", 20.0) for n in range(10)}
TOY_FAN = Preferences("toy-fan", {"Toys": 1.0}, ["Acme"], "budget")


def answer(items: list[str], alias: str, request_id: str) -> dict[str, Any]:
    return {"model_alias": alias, "request_id": request_id, "items": [{"product_id": i} for i in items]}


def test_shoppers_click_what_suits_them_and_credit_the_answer() -> None:
    shoppers = RecommendationShoppers([TOY_FAN], {**TOYS, **BOOKS}, seed=1)
    calls = iter(range(10_000))

    def recommend(user: str, session: str) -> dict[str, Any]:
        n = next(calls)
        # Every other answer is all toys (the fan's taste), the rest all books.
        alias = "champion" if n % 2 == 0 else "canary"
        return answer(list(TOYS if alias == "champion" else BOOKS), alias, f"r{n}")

    events = [event for batch in shoppers.run(recommend, 2000) for event in batch]
    outcome = shoppers.outcome
    assert outcome.visits == 2000 and outcome.events == len(events)
    suited, other = outcome.by_alias["champion"], outcome.by_alias["canary"]
    assert suited.requests == other.requests == 1000
    # appeal: 0.15 + 0.35 (department) + 0.35 (brand) + 0.15 (price band) = 1.0 for a toy, 0.3 for a
    # book: clicked with probability 1 and 0.09 when examined.
    assert suited.clicked > 900 and other.clicked < 400 and suited.carted > other.carted
    assert all(e["query_id"].startswith("r") and e["user_id"] == "toy-fan" for e in events)
    clicks = [e for e in events if e["action_name"] == "click"]
    toy_clicks = [e for e in clicks if e["event_attributes"]["object"]["object_id"].startswith("T")]
    assert all(int(e["query_id"][1:]) % 2 == 0 for e in toy_clicks)  # toys came from champion answers
    assert "| champion | 1000 |" in markdown(outcome)

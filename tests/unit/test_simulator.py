import datetime as dt
import random
from collections import Counter

import msgspec

from pipelines.simulator import SearchHit, ShopperSearch, Simulator, recovered_department_share

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
BRANDS = {"Toys": ["LEGO", "Ty"], "Books": ["Penguin", "Vintage"], "Grocery": ["Sunkist", "KIND"]}
CATALOG = [
    SearchHit(f"P{i:03d}", brand, dept, float(5 + i % 200))
    for i, (dept, brand) in enumerate((d, b) for d, bs in BRANDS.items() for b in bs for _ in range(20))
]


def stub_search(search: ShopperSearch) -> tuple[str, list[SearchHit]]:
    """A deterministic stand-in for the API: a query-seeded shuffle of a small catalog."""
    rng = random.Random(search.query)
    return search.query_id, rng.sample(CATALOG, 10)


def ordinal(event: dict) -> int:
    return event["event_attributes"]["position"]["ordinal"]


def product(event: dict) -> str:
    return event["event_attributes"]["object"]["object_id"]


def simulate(seed: int) -> tuple[Simulator, list[dict]]:
    simulator = Simulator(seed, users=60, days=2, events_per_day=1500, brands_by_department=BRANDS, now=NOW)
    return simulator, [event for session in simulator.run(stub_search) for event in session]


def test_the_same_seed_gives_the_same_events() -> None:
    _, first = simulate(3)
    _, again = simulate(3)
    _, other = simulate(4)
    assert msgspec.json.encode(first) == msgspec.json.encode(again)
    assert first != other
    assert len({e["event_id"] for e in first}) == len(first)


def test_events_are_valid_and_inside_the_window() -> None:
    _, events = simulate(5)
    assert len(events) >= 3000
    for event in events:
        at = dt.datetime.fromisoformat(event["timestamp"])
        assert NOW - dt.timedelta(days=2) <= at <= NOW
        assert event["action_name"] in {"impression", "click", "view", "add_to_cart", "purchase"}
        assert 0 <= ordinal(event) <= 9  # the first ten results, counted from 0
        assert event["client_id"] == f"{event['user_id']}-web" and event["query_id"].startswith("sim-q")


def test_clicks_are_position_biased() -> None:
    _, events = simulate(6)
    impressions = Counter(ordinal(e) for e in events if e["action_name"] == "impression")
    clicks = Counter(ordinal(e) for e in events if e["action_name"] == "click")
    assert clicks[0] / impressions[0] > 2 * clicks[9] / impressions[9]


def test_clicks_follow_the_latent_tastes() -> None:
    simulator, events = simulate(8)
    department = {hit.product_id: hit.department for hit in CATALOG}
    clicks: dict[str, Counter] = {}
    for event in events:
        if event["action_name"] == "click":
            clicks.setdefault(event["user_id"], Counter())[department[product(event)]] += 1
    assert recovered_department_share(simulator.users, clicks) > 0.8

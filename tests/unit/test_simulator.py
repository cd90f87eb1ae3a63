import datetime as dt
import random
from collections import Counter

import msgspec

from pipelines.golden import ANY_LEAF
from pipelines.simulator import OFF_TARGET, SearchHit, ShopperSearch, Simulator, recovered_department_share

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


def test_shoppers_click_the_kind_of_product_they_searched_for() -> None:
    """Half the results (at random positions) are of a leaf the query asks for, half of another;
    with taste and position alike, the kind searched for draws about 1 / OFF_TARGET times the clicks."""
    simulator = Simulator(9, users=60, days=2, events_per_day=1500, brands_by_department=BRANDS, now=NOW)
    kind: dict[tuple[str, str], bool] = {}  # (query id, product) -> of the kind searched for

    def search(shopper: ShopperSearch) -> tuple[str, list[SearchHit]]:
        wanted = simulator.wanted.get(shopper.query, frozenset())
        rng = random.Random(shopper.query_id)
        hits = []
        for hit in rng.sample(CATALOG, 10):
            wanted_kind = bool(wanted) and ANY_LEAF not in wanted and rng.random() < 0.5
            leaf = sorted(wanted)[0] if wanted_kind else "Somewhere else"
            if wanted and ANY_LEAF not in wanted:
                kind[(shopper.query_id, hit.product_id)] = wanted_kind
            hits.append(msgspec.structs.replace(hit, leaf=leaf))
        return shopper.query_id, hits

    events = [event for session in simulator.run(search) for event in session]
    shown = Counter(kind.get((e["query_id"], product(e))) for e in events if e["action_name"] == "impression")
    clicked = Counter(kind.get((e["query_id"], product(e))) for e in events if e["action_name"] == "click")
    assert shown[True] > 1000 and shown[False] > 1000
    ratio = (clicked[True] / shown[True]) / (clicked[False] / shown[False])
    assert 1 / OFF_TARGET / 2 < ratio < 2 / OFF_TARGET


def test_each_query_wants_the_leaves_the_golden_set_names_for_it() -> None:
    simulator = Simulator(1, users=2, days=1, events_per_day=10, brands_by_department=BRANDS, now=NOW)
    assert simulator.wanted["running shoes"] == {"Sneakers"}
    assert simulator.wanted["lipstick"] == {"Lipstick"}

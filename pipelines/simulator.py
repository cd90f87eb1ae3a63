"""`make simulate`: synthetic shoppers searching the real API and sending UBI events.

Each user has latent preferences (favourite departments, brands and a price band). A session picks a
department by preference, searches with a shopper query for it (the golden set's queries), gets an
impression for each of the top 10 results, examines position p with probability 1/p^0.8 and clicks
when the result is the kind of product searched for and suits the user's tastes; clicks may lead to
views, add-to-carts and purchases. Events
go through `POST /v1/events` in batches. Everything is drawn from one seeded generator and event ids
are derived from it, so the same seed gives the same events (and re-running stores nothing twice).

The latent preferences are saved (var/simulator/users-<seed>.json) so evaluations can check that
models recover them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from pipelines.golden import ANY_LEAF, load_queries

EXAMINATION_EXPONENT = 0.8
PRICE_BANDS = {"budget": (0.0, 60.0), "mid": (20.0, 300.0), "premium": (150.0, 100000.0)}
FUNNEL = {"view": 0.8, "add_to_cart": 0.35, "purchase": 0.5}  # after a click; purchase after add_to_cart
OFF_TARGET = 0.2
"""A product of another kind than the one searched for is clicked this much as often as one of the
kind (a shopper who searched for a phone rarely clicks the lip gloss beside it). Without it, clicks
followed taste alone, and click judgments disagreed with what the queries ask for."""


class Preferences(msgspec.Struct):
    user_id: str
    departments: dict[str, float]
    brands: list[str]
    price_band: str


class SearchHit(msgspec.Struct):
    product_id: str
    brand: str
    department: str
    price: float | None
    leaf: str = ""
    """The product's category leaf; empty: unknown, taken as the kind searched for."""

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> SearchHit:
        """From one result of `/v1/search` (its category path, levels joined by " > ")."""
        path = result["category"].split(" > ")
        return cls(result["product_id"], result["brand"], path[0], result["price"], path[-1])


class ShopperSearch(msgspec.Struct, frozen=True):
    """One search as a UBI client sends it: its own ids for the search and the client."""

    query: str
    user_id: str
    session_id: str
    client_id: str
    query_id: str


# search(shopper search) -> (the query id the API logged, hits)
SearchCall = Callable[[ShopperSearch], tuple[str, list[SearchHit]]]
APPLICATION = "quarry-simulator"


def department_queries() -> tuple[dict[str, list[str]], dict[str, frozenset[str]]]:
    """Shopper queries per department, from the golden set's single-department readings; and the
    category leaves each query asks for (any of its readings'; the golden set's product grades are
    not read)."""
    from pipelines.catalog.vocabulary import PRODUCT_TYPES

    leaf_department = {pt.path[-1]: pt.path[0] for pt in PRODUCT_TYPES}
    by_department: dict[str, list[str]] = {}
    wanted: dict[str, frozenset[str]] = {}
    for query in load_queries():
        departments = {leaf_department.get(leaf) for r in query.readings for leaf in r.leaves} - {None}
        if len(departments) == 1:
            by_department.setdefault(departments.pop() or "", []).append(query.query)
            wanted[query.query] = frozenset(leaf for r in query.readings for leaf in r.leaves)
    return by_department, wanted


def on_target(wanted: frozenset[str], hit: SearchHit) -> bool:
    """Whether the product is the kind the query asks for (unknown either way: taken as yes)."""
    return not wanted or not hit.leaf or ANY_LEAF in wanted or hit.leaf in wanted


def make_users(
    count: int, rng: random.Random, brands_by_department: dict[str, list[str]]
) -> list[Preferences]:
    departments = sorted(brands_by_department)
    users = []
    for i in range(count):
        favourites = rng.sample(departments, k=rng.choice([1, 2, 2, 3]))
        weights = {d: round(rng.uniform(0.5, 1.0), 3) for d in favourites}
        brand_pool = sorted({b for d in favourites for b in brands_by_department[d]})
        users.append(
            Preferences(
                user_id=f"sim-u{i:05d}",
                departments=weights,
                brands=rng.sample(brand_pool, k=min(len(brand_pool), rng.randint(2, 4))),
                price_band=rng.choice(sorted(PRICE_BANDS)),
            )
        )
    return users


def appeal(user: Preferences, hit: SearchHit) -> float:
    """How much this product suits the user, in [0, 1]."""
    score = 0.15
    if hit.department in user.departments:
        score += 0.35 * user.departments[hit.department]
    if hit.brand in user.brands:
        score += 0.35
    low, high = PRICE_BANDS[user.price_band]
    if hit.price is not None and low <= hit.price <= high:
        score += 0.15
    return min(1.0, score)


def client_id(user: Preferences) -> str:
    """The shopper's browser: the same id on its searches and its events."""
    return f"{user.user_id}-web"


def ubi_event(
    event_id: str,
    application: str,
    action: str,
    user: Preferences,
    session: str,
    query_id: str,
    hit: SearchHit,
    position: int,
    at: dt.datetime,
) -> dict[str, Any]:
    """A UBI 1.3 event as a storefront's collector sends it; `position` counts from 1, the ordinal
    from 0 (docs/events.md#positions)."""
    return {
        "event_id": event_id,
        "application": application,
        "action_name": action,
        "user_id": user.user_id,
        "client_id": client_id(user),
        "session_id": session,
        "query_id": query_id,
        "timestamp": at.isoformat(timespec="milliseconds"),
        "message_type": "INFO",
        "event_attributes": {
            "object": {"object_id": hit.product_id, "object_id_field": "product_id"},
            "position": {"ordinal": position - 1},
        },
    }


class Simulator:
    def __init__(
        self,
        seed: int,
        users: int,
        days: int,
        events_per_day: int,
        brands_by_department: dict[str, list[str]],
        now: dt.datetime,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not security
        self.seed = seed
        self.users = make_users(users, self.rng, brands_by_department)
        self.days = days
        self.events_per_day = events_per_day
        self.queries, self.wanted = department_queries()
        self.now = now
        self._counter = 0

    def _event_id(self) -> str:
        self._counter += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"quarry-sim/{self.seed}/{self._counter}"))

    def _event(
        self,
        action: str,
        user: Preferences,
        session: str,
        query_id: str,
        hit: SearchHit,
        position: int,
        at: dt.datetime,
    ) -> dict[str, Any]:
        return ubi_event(self._event_id(), APPLICATION, action, user, session, query_id, hit, position, at)

    def session(self, user: Preferences, search: SearchCall, start: dt.datetime) -> list[dict[str, Any]]:
        department = self.rng.choices(list(user.departments), weights=list(user.departments.values()))[0]
        queries = self.queries.get(department) or [department.lower()]
        session_id = f"sim-s{self._event_id()[:13]}"
        events: list[dict[str, Any]] = []
        at = start
        for _ in range(self.rng.choice([1, 1, 2, 3])):
            query = self.rng.choice(queries)
            wanted = self.wanted.get(query, frozenset())
            query_id, hits = search(
                ShopperSearch(
                    query=query,
                    user_id=user.user_id,
                    session_id=session_id,
                    client_id=client_id(user),
                    # The run's start time keeps ids of a rerun apart (a query id names one search).
                    query_id=f"sim-q{self.now:%Y%m%d%H%M%S}-{self._event_id()}",
                )
            )
            for position, hit in enumerate(hits[:10], start=1):
                at += dt.timedelta(milliseconds=self.rng.randint(50, 400))
                events.append(self._event("impression", user, session_id, query_id, hit, position, at))
                examined = self.rng.random() < 1 / position**EXAMINATION_EXPONENT
                relevance = 1.0 if on_target(wanted, hit) else OFF_TARGET
                if not examined or self.rng.random() >= relevance * appeal(user, hit) ** 2:
                    continue
                at += dt.timedelta(seconds=self.rng.randint(2, 30))
                events.append(self._event("click", user, session_id, query_id, hit, position, at))
                if self.rng.random() < FUNNEL["view"]:
                    events.append(self._event("view", user, session_id, query_id, hit, position, at))
                if self.rng.random() < FUNNEL["add_to_cart"] * appeal(user, hit):
                    at += dt.timedelta(seconds=self.rng.randint(5, 60))
                    events.append(self._event("add_to_cart", user, session_id, query_id, hit, position, at))
                    if self.rng.random() < FUNNEL["purchase"]:
                        events.append(self._event("purchase", user, session_id, query_id, hit, position, at))
        return events

    def run(self, search: SearchCall) -> Iterator[list[dict[str, Any]]]:
        """Events day by day (oldest first), session by session, until each day has its quota."""
        for day in range(self.days, 0, -1):
            day_start = self.now - dt.timedelta(days=day)
            produced = 0
            while produced < self.events_per_day:
                user = self.rng.choice(self.users)
                offset = dt.timedelta(seconds=self.rng.randint(0, 86000))
                start = min(day_start + offset, self.now - dt.timedelta(minutes=1))
                events = self.session(user, search, start)
                produced += len(events)
                yield events


def recovered_department_share(users: list[Preferences], clicks: dict[str, dict[str, int]]) -> float:
    """Share of users whose most-clicked department is one of their latent favourites (a sanity check
    that the events carry the tastes models are meant to learn)."""
    hits = total = 0
    for user in users:
        counts = clicks.get(user.user_id)
        if counts:
            total += 1
            hits += max(counts, key=lambda d: counts[d]) in user.departments
    return hits / total if total else math.nan

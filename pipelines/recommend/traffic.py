"""`make simulate-recommendations`: the shoppers of `make simulate` (their latent tastes, saved in
var/simulator/users-<seed>.json) ask the running API for recommendations, look at them as they look
at search results (position p examined with probability 1/p^0.8), click what suits their tastes and
sometimes add it to the cart. The events go through `POST /v1/events` with the answer's `request_id`
as their `query_id`, which is how a shadow's agreement and a canary's guardrails get live evidence on
a stack without real shoppers (docs/model-lifecycle.md#trying-it-on-the-running-stack).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from pipelines.simulator import EXAMINATION_EXPONENT, FUNNEL, Preferences, SearchHit, appeal, ubi_event
from quarry.adapters.search_engine import SearchEngine

APPLICATION = "quarry-simulator-recommendations"
K = 10


class VariantOutcome(msgspec.Struct):
    requests: int = 0
    clicked: int = 0
    """Answers with at least one click."""
    carted: int = 0
    """Answers with at least one add-to-cart."""


class TrafficOutcome(msgspec.Struct):
    visits: int
    events: int
    by_alias: dict[str, VariantOutcome]


# (user id, session id) -> the /v1/recommendations response body
Recommend = Callable[[str, str], dict[str, Any]]


def load_users(path: Any) -> list[Preferences]:
    return msgspec.json.decode(path.read_bytes(), type=list[Preferences])


def catalog_of(engine: SearchEngine, alias: str) -> dict[str, SearchHit]:
    """What a shopper sees of a recommended product: brand, department and price."""
    fields = ["product_id", "brand", "category_lvl1", "price"]
    return {
        str(hit.source["product_id"]): SearchHit(
            str(hit.source["product_id"]),
            str(hit.source.get("brand") or ""),
            str(hit.source.get("category_lvl1") or ""),
            hit.source.get("price"),
        )
        for hit in engine.scan(alias, fields=fields)
    }


class RecommendationShoppers:
    def __init__(self, users: list[Preferences], catalog: dict[str, SearchHit], seed: int) -> None:
        self.users = users
        self.catalog = catalog
        self.rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not security
        self.seed = seed
        self._counter = 0
        self.outcome = TrafficOutcome(visits=0, events=0, by_alias={})

    def _id(self, kind: str) -> str:
        self._counter += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"quarry-sim-recs/{self.seed}/{kind}/{self._counter}"))

    def _event(
        self, action: str, user: Preferences, session: str, request_id: str, hit: SearchHit, position: int
    ) -> dict[str, Any]:
        return ubi_event(
            self._id("event"),
            APPLICATION,
            action,
            user,
            session,
            request_id,
            hit,
            position,
            dt.datetime.now(dt.UTC),
        )

    def visit(self, recommend: Recommend, outcome: TrafficOutcome) -> list[dict[str, Any]]:
        """One shopper opens a page with recommendations: the events it leads to."""
        user = self.rng.choice(self.users)
        session = f"sim-r{self._id('session')[:13]}"
        body = recommend(user.user_id, session)
        variant = outcome.by_alias.setdefault(str(body.get("model_alias") or "none"), VariantOutcome())
        variant.requests += 1
        request_id = str(body.get("request_id") or "")
        events: list[dict[str, Any]] = []
        clicked = carted = False
        for position, item in enumerate(body.get("items", [])[:K], start=1):
            hit = self.catalog.get(item["product_id"])
            if hit is None or self.rng.random() >= 1 / position**EXAMINATION_EXPONENT:
                continue
            suits = appeal(user, hit)
            if self.rng.random() >= suits**2:
                continue
            events.append(self._event("click", user, session, request_id, hit, position))
            clicked = True
            if self.rng.random() < FUNNEL["add_to_cart"] * suits:
                events.append(self._event("add_to_cart", user, session, request_id, hit, position))
                carted = True
        variant.clicked += clicked
        variant.carted += carted
        return events

    def run(self, recommend: Recommend, visits: int) -> Iterator[list[dict[str, Any]]]:
        """Visit by visit, each visit's events (to send in batches); `self.outcome` keeps count."""
        for _ in range(visits):
            events = self.visit(recommend, self.outcome)
            self.outcome.visits += 1
            self.outcome.events += len(events)
            yield events


def markdown(outcome: TrafficOutcome) -> str:
    rows = ["| served by | requests | CTR | add-to-cart rate |", "| --- | ---: | ---: | ---: |"]
    for alias, seen in sorted(outcome.by_alias.items()):
        n = max(1, seen.requests)
        rows.append(f"| {alias} | {seen.requests} | {seen.clicked / n:.1%} | {seen.carted / n:.1%} |")
    return "\n".join(rows)


def drive(shoppers: RecommendationShoppers, client: Any, visits: int, batch: int = 500) -> None:
    """Run the visits against an API (`client`: an httpx.Client with a key that may recommend and
    send events), sending the events in batches, with a progress bar."""
    from tqdm import tqdm

    pending: list[dict[str, Any]] = []

    def send() -> None:
        while pending:  # the API takes at most `batch` (500) events per request
            chunk = pending[:batch]
            response = client.post("/v1/events", json={"events": chunk})
            if response.is_error:
                raise RuntimeError(f"events refused ({response.status_code}): {response.text[:2000]}")
            del pending[: len(chunk)]

    def recommend(user: str, session: str) -> dict[str, Any]:
        params: dict[str, str | int] = {"user_id": user, "session_id": session, "k": K}
        body: dict[str, Any] = client.get("/v1/recommendations", params=params).raise_for_status().json()
        return body

    with tqdm(total=visits, desc="recommendation visits", unit="visit", disable=None) as bar:
        for events in shoppers.run(recommend, visits):
            pending.extend(events)
            if len(pending) >= batch:
                send()
            bar.update(1)
    send()

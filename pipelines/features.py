"""`make popularity`: behavioural features from `ubi_events`, for search ranking and recommendations.

- Popularity: per product, the sum over its events of the action's weight times a time decay
  `exp(-ln 2 * age / half_life)`, over a rolling window. Written to `popularity_score` on every product
  of the live index (partial updates: products without events in the window get 0, so the score is
  always on one scale), and as top-k lists per top-level category in Redis (`popular:{category}:{k}`,
  `popular:all:{k}`, JSON arrays of product ids, TTL 15 minutes).
- User category affinity: the same decayed weights per user and top-level category, divided by the
  user's largest, so the favourite category is 1.0; in Redis as `feature:user:{id}:category_affinity`
  (JSON object), which the search ranking's `affinity` component reads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import msgspec
from tqdm import tqdm

from pipelines.indexing.bulk import bulk_index_actions
from quarry.adapters.cache import KeyValueStore
from quarry.adapters.search_engine import SearchEngine, index_action
from quarry.privacy_registry import NO_EXCLUSIONS, TrainingExclusions
from quarry.redis_keys import popular_key, user_affinity_key
from quarry.ubi import UBI_EVENTS, event_object_id, event_time

ACTION_WEIGHTS = {"impression": 0.0, "view": 1.0, "click": 2.0, "add_to_cart": 5.0, "purchase": 10.0}
POPULAR_TTL_S = 900
"""Three popularity runs (every 5 minutes): a late or retried run does not empty the lists."""
POPULARITY = "popularity"
AFFINITY = "affinity"
EVERY_PART = frozenset({POPULARITY, AFFINITY})
"""What one run computes: the popularity DAG runs every 5 minutes and the affinity DAG daily, over
the same events and weights (docs/pipelines.md)."""


class FeatureSettings(msgspec.Struct, frozen=True):
    window_days: float = 14.0
    half_life_days: float = 3.0
    top_k: int = 50
    affinity_ttl_s: int = 7 * 86400


class FeatureReport(msgspec.Struct):
    events: int
    products_scored: int
    products_updated: int
    users_with_affinity: int
    popular_lists: int
    window_start: str
    parameters: FeatureSettings


def decay(age_days: float, half_life_days: float) -> float:
    return math.exp(-math.log(2) * max(0.0, age_days) / half_life_days)


def aggregate(
    events: list[dict[str, Any]],
    departments: dict[str, str],
    now: dt.datetime,
    half_life_days: float,
    exclusions: TrainingExclusions = NO_EXCLUSIONS,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Decayed popularity per product and decayed category weights per user. An event its shopper
    keeps out of personalization (docs/privacy.md) still counts for popularity, which names nobody,
    and for no one's affinity."""
    popularity: dict[str, float] = defaultdict(float)
    affinity: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for event in events:
        weight = ACTION_WEIGHTS.get(str(event.get("action_name")), 0.0)
        at = event_time(event.get("timestamp"))
        product = event_object_id(event)
        if not weight or at is None or not product:
            continue
        value = weight * decay((now - at).total_seconds() / 86400, half_life_days)
        popularity[product] += value
        department = departments.get(product)
        if event.get("user_id") and department and not exclusions.excludes_event(event):
            affinity[event["user_id"]][department] += value
    normalized = {
        user: {d: round(v / max(weights.values()), 4) for d, v in weights.items()}
        for user, weights in affinity.items()
        if max(weights.values()) > 0
    }
    return dict(popularity), normalized


def compute_features(
    engine: SearchEngine,
    store: KeyValueStore,
    alias: str,
    parameters: FeatureSettings,
    now: dt.datetime | None = None,
    events_index: str = UBI_EVENTS,
    ubi_engine: SearchEngine | None = None,
    exclusions: TrainingExclusions = NO_EXCLUSIONS,
    parts: frozenset[str] = EVERY_PART,
) -> FeatureReport:
    """`ubi_engine`: the cluster holding `events_index` when it is not the search cluster. `parts`:
    what to write (popularity: the products' scores and the popular lists; affinity: the users')."""
    if not parts or parts - EVERY_PART:
        raise ValueError(f"parts must be a non-empty subset of {sorted(EVERY_PART)}, not {sorted(parts)}")
    now = now or dt.datetime.now(dt.UTC)
    window_start = now - dt.timedelta(days=parameters.window_days)
    products = {
        hit.source["product_id"]: hit.source.get("category_lvl1") or ""
        for hit in tqdm(engine.scan(alias), desc="products", unit="doc", disable=None)
    }
    query = {
        "bool": {
            "filter": [
                {"range": {"timestamp": {"gte": window_start.isoformat(), "lte": now.isoformat()}}},
                {"terms": {"action_name": [a for a, w in ACTION_WEIGHTS.items() if w]}},
            ]
        }
    }
    events = [
        hit.source
        for hit in tqdm(
            (ubi_engine or engine).scan(events_index, query), desc="events", unit="event", disable=None
        )
    ]
    popularity, affinity = aggregate(events, products, now, parameters.half_life_days, exclusions)

    updated = lists = 0
    if POPULARITY in parts:
        updated, lists = _write_popularity(engine, store, alias, products, popularity, parameters.top_k)
    if AFFINITY not in parts:
        affinity = {}
    for user, weights in affinity.items():
        store.set(
            user_affinity_key(user),
            msgspec.json.encode(weights),
            ttl_s=parameters.affinity_ttl_s,
        )
    return FeatureReport(
        events=len(events),
        products_scored=len(popularity),
        products_updated=updated,
        users_with_affinity=len(affinity),
        popular_lists=lists,
        window_start=window_start.isoformat(),
        parameters=parameters,
    )


def _write_popularity(
    engine: SearchEngine,
    store: KeyValueStore,
    alias: str,
    products: dict[str, str],
    popularity: dict[str, float],
    top_k: int,
) -> tuple[int, int]:
    """Each product's popularity_score in the live index, and the top-k lists per department."""
    live = engine.alias_targets(alias)[0]
    actions = (
        (
            pid,
            index_action(
                live, pid, {"doc": {"popularity_score": round(popularity.get(pid, 0.0), 4)}}, op_type="update"
            ),
        )
        for pid in products
    )
    stats = bulk_index_actions(engine, actions, total=len(products), description="popularity_score")
    engine.refresh(live)

    lists = 0
    by_department: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for pid, score in popularity.items():
        if pid in products:
            by_department[products[pid]].append((score, pid))
            by_department["all"].append((score, pid))
    for department, scored in by_department.items():
        top = [pid for _, pid in sorted(scored, key=lambda sp: (-sp[0], sp[1]))[:top_k]]
        store.set(popular_key(department, top_k), msgspec.json.encode(top), ttl_s=POPULAR_TTL_S)
        lists += 1
    return stats.indexed, lists

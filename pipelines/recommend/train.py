"""`make train-als` and `make eval-recommend`: ALS on UBI events, and its offline evaluation against
the popularity baseline on a time-based split.

Split: the earliest 80% of the window's interactions (by time) train; for users seen in training,
the items they clicked or bought afterwards, and had not touched before, are what a recommender
should find. Metrics at 10: precision, recall, NDCG (binary gains), and coverage (share of the
trained items that appear in anyone's top 10).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from pipelines.bench.report import commit
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.search_engine import SearchEngine
from quarry.privacy_registry import NO_EXCLUSIONS, TrainingExclusions
from quarry.recommenders import (
    ACTION_CONFIDENCE,
    ARTIFACT,
    MIN_INTERACTIONS,
    ALSRecommender,
    Interactions,
    PopularityRecommender,
)
from quarry.ubi import UBI_EVENTS, event_object_id, event_time

K = 10
TRAIN_SHARE = 0.8
RELEVANT_ACTIONS = frozenset({"click", "add_to_cart", "purchase"})


class Interaction(msgspec.Struct, frozen=True, array_like=True):
    user: str
    item: str
    action: str
    at: str


class ModelScores(msgspec.Struct):
    precision_at_10: float
    recall_at_10: float
    ndcg_at_10: float
    coverage: float
    users: int


def load_interactions(
    engine: SearchEngine,
    window_days: float,
    now: dt.datetime,
    exclusions: TrainingExclusions = NO_EXCLUSIONS,
    events_index: str = UBI_EVENTS,
) -> list[Interaction]:
    """`exclusions`: shoppers and events kept out of personalization (docs/privacy.md)."""
    start = (now - dt.timedelta(days=window_days)).isoformat()
    query = {
        "bool": {
            "filter": [
                {"range": {"timestamp": {"gte": start}}},
                {"terms": {"action_name": list(ACTION_CONFIDENCE)}},
                {"exists": {"field": "user_id"}},
            ]
        }
    }
    rows = []
    for hit in tqdm(engine.scan(events_index, query), desc="events", unit="event", disable=None):
        user, item, at = (
            hit.source.get("user_id"),
            event_object_id(hit.source),
            event_time(hit.source.get("timestamp")),
        )
        # Direct writers bypass validation: an event without a user, product or time trains nothing.
        if (
            user and item is not None and at is not None and not exclusions.excludes_event(hit.source)
        ):  # one ISO form in UTC, so text order is time order
            rows.append(Interaction(str(user), item, hit.source["action_name"], at.isoformat()))
    return sorted(rows, key=lambda r: r.at)


def to_matrix(rows: list[Interaction]) -> Interactions:
    confidence: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        confidence[(row.user, row.item)] += ACTION_CONFIDENCE[row.action]
    return Interactions((u, i, c) for (u, i), c in confidence.items())


def time_split(rows: list[Interaction]) -> tuple[list[Interaction], dict[str, set[str]]]:
    cut = int(len(rows) * TRAIN_SHARE)
    train, later = rows[:cut], rows[cut:]
    seen: dict[str, set[str]] = defaultdict(set)
    for row in train:
        seen[row.user].add(row.item)
    targets: dict[str, set[str]] = defaultdict(set)
    for row in later:
        if row.user in seen and row.action in RELEVANT_ACTIONS and row.item not in seen[row.user]:
            targets[row.user].add(row.item)
    return train, dict(targets)


class ServedAs:
    """A model as the service answers with it: its own recommendations for the users it has at least
    MIN_INTERACTIONS interactions of, popular items for the rest. How a candidate and the champion
    (trained on another window) are compared on the same held-out split: a user a model cannot
    serve personally is not a zero, they get what the service would give them."""

    def __init__(self, model: Any, interactions: dict[str, int], popular: PopularityRecommender) -> None:
        self.model, self.interactions, self.popular = model, interactions, popular

    def recommend(self, user: str, k: int, exclude: set[str]) -> list[tuple[str, float]]:
        if self.interactions.get(user, 0) >= MIN_INTERACTIONS:
            return list(self.model.recommend(user, k, exclude))
        return self.popular.recommend(user, k, exclude)


def interaction_counts(rows: list[Interaction]) -> dict[str, int]:
    return dict(Counter(row.user for row in rows))


def load_published(store: ArtifactStore, version: str) -> tuple[ALSRecommender, dict[str, int]]:
    """A published ALS version and its users' interaction counts (what the service switches on)."""
    metadata = store.metadata(ARTIFACT, version)
    files = {name: store.read(ARTIFACT, version, name) for name in metadata["files"]}
    history = msgspec.json.decode(files["history.json"])
    return ALSRecommender.load(files, metadata["parameters"]), {
        u: int(h["interactions"]) for u, h in history.items()
    }


def evaluate_model(model: Any, data: Interactions, targets: dict[str, set[str]]) -> ModelScores:
    precision = recall = ndcg = 0.0
    shown: set[str] = set()
    for user, relevant in targets.items():
        ranked = [item for item, _ in model.recommend(user, K, exclude=data.items_of(user))]
        shown.update(ranked)
        hits = [1.0 if item in relevant else 0.0 for item in ranked]
        precision += sum(hits) / K
        recall += sum(hits) / len(relevant)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(K, len(relevant))))
        ndcg += sum(h / math.log2(i + 2) for i, h in enumerate(hits)) / ideal
    users = max(1, len(targets))
    return ModelScores(
        precision_at_10=round(precision / users, 4),
        recall_at_10=round(recall / users, 4),
        ndcg_at_10=round(ndcg / users, 4),
        coverage=round(len(shown) / max(1, len(data.item_ids)), 4),
        users=len(targets),
    )


def taste_recovery(
    model: ALSRecommender,
    preferences_file: Path,
    departments: dict[str, str],
    pseudonym: Callable[[str], str],
) -> float | None:
    """Share of simulated users whose ALS top 10 is mostly from one of their latent favourite departments.
    `pseudonym`: how the simulator's user ids are stored (the model knows only those)."""
    if not preferences_file.exists():
        return None
    users = msgspec.json.decode(preferences_file.read_bytes())
    matched = total = 0
    for user in users:
        recs = model.recommend(pseudonym(user["user_id"]), K, exclude=set())
        if not recs:
            continue
        total += 1
        top = Counter(departments.get(item, "") for item, _ in recs).most_common(1)[0][0]
        matched += top in user["departments"]
    return round(matched / total, 4) if total else None


def plot(results: dict[str, ModelScores], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["precision_at_10", "recall_at_10", "ndcg_at_10", "coverage"]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(results)
    for n, (name, scores) in enumerate(results.items()):
        values = [getattr(scores, m) for m in metrics]
        bars = axis.bar([i + n * width for i in range(len(metrics))], values, width, label=name)
        axis.bar_label(bars, fmt="%.3f", fontsize=7)
    axis.set_xticks([i + width * (len(results) - 1) / 2 for i in range(len(metrics))], metrics)
    axis.set_title("Recommendations on the time split: ALS vs popularity")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def serving_files(
    rows: list[Interaction], data: Interactions, departments: dict[str, str]
) -> dict[str, bytes]:
    """What the API needs beside the factors: each user's interaction count and purchases (cold-start
    switch, exclusions), item departments (category filter) and a popularity fallback."""
    history: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = history.setdefault(row.user, {"interactions": 0, "purchased": []})
        entry["interactions"] += 1
        if row.action == "purchase" and row.item not in entry["purchased"]:
            entry["purchased"].append(row.item)
    popularity = PopularityRecommender()
    popularity.fit(data)
    return {
        "history.json": msgspec.json.encode(history),
        "item_departments.json": msgspec.json.encode({i: departments.get(i, "") for i in data.item_ids}),
        "popular.json": msgspec.json.encode([item for item, _ in popularity.ranking[:500]]),
    }


def train_and_publish(
    engine: SearchEngine,
    store: ArtifactStore,
    window_days: float,
    params: dict[str, Any],
    now: dt.datetime,
    alias: str,
    ubi_engine: SearchEngine | None = None,
    exclusions: TrainingExclusions = NO_EXCLUSIONS,
    activate: bool = True,
    events_index: str = UBI_EVENTS,
    champion: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """`ubi_engine`: the cluster holding `ubi_events` when it is not the search cluster.
    `activate=False`: published for the registry (a candidate), not served.

    Two fits: one on the first 80 % of the window, judged on what its users did next (the held-out
    metrics the promotion gate compares with the champion's), and one on the whole window, which is
    what is served. `champion`: the version served now, scored as served (its own answers for the
    users it knows, popular items for the others) on the same held-out split, so that the promotion
    gate compares the two on the same data rather than each on its own window."""
    rows = load_interactions(ubi_engine or engine, window_days, now, exclusions, events_index)
    data = to_matrix(rows)
    departments = {h.source["product_id"]: h.source.get("category_lvl1", "") for h in engine.scan(alias)}
    train, targets = time_split(rows)
    held_out = ALSRecommender(**params)
    train_data = to_matrix(train)
    held_out.fit(train_data)
    scores = evaluate_model(held_out, train_data, targets)
    popular = PopularityRecommender()
    popular.fit(train_data)
    served = evaluate_model(ServedAs(held_out, interaction_counts(train), popular), train_data, targets)
    same_split: dict[str, Any] = {"heldout_served_ndcg_at_10": served.ndcg_at_10 if served.users else None}
    if champion is not None:
        champion_served = evaluate_model(
            ServedAs(*load_published(store, champion), popular), train_data, targets
        )
        same_split["champion_heldout_served_ndcg_at_10"] = (
            champion_served.ndcg_at_10 if champion_served.users else None
        )
    model = ALSRecommender(**params)
    started = time.perf_counter()
    model.fit(data)
    seconds = round(time.perf_counter() - started, 3)
    metadata = {
        **model.metadata(),
        "data_window": {
            "from": rows[0].at if rows else None,
            "to": rows[-1].at if rows else None,
            "interactions": len(rows),
            "users": len(data.user_ids),
            "items": len(data.item_ids),
            "privacy_exclusions": {
                "opted_out": len(exclusions.opted_out),
                "erased": len(exclusions.erased_at),
            },
        },
        "metrics": {
            "training_seconds": seconds,
            # No user of the held-out part had anything new to find: nothing was measured.
            **{
                f"heldout_{name}": (value if scores.users else None)
                for name, value in msgspec.to_builtins(scores).items()
                if name != "users"
            },
            "heldout_users": scores.users,
            **same_split,
        },
        "compared_with": champion,
        "input_snapshot": {"events": events_index, "window_days": window_days, "products_alias": alias},
        "code_commit": commit(),
    }
    version = store.publish(
        ARTIFACT, {**model.save(), **serving_files(rows, data, departments)}, metadata, activate=activate
    )
    return version, metadata

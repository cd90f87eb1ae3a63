"""Recommendation strategies over the active ALS artifact, swapped in without a restart.

- `collaborative`: users with at least `MIN_INTERACTIONS` interactions in the training window get
  ALS's top items (already purchased ones excluded), blended with the session when one is given;
- `session`: users ALS does not know yet, but whose session has engaged with products, get the items
  whose ALS item factors are closest to those products;
- `popularity`: everyone else: the live `popular:{category}:{k}` list (features job), or the
  artifact's own popularity when Redis has none;
- `catalog_priors`: before any events exist (cold start), or `popularity+catalog_priors` when the
  events rank fewer than k items: products ranked by rating, reviews and freshness from the catalog
  (quarry/catalog_priors.py), so a new user on a fresh shop still gets k items.
While the registry has a `canary` version, a sticky share of shoppers is answered by it instead of
the champion (quarry/canary.py), and every personal request of that window is recorded for the
canary's guardrails; similar items stay the champion's. Personal answers carry a `request_id` for
the UBI events they lead to, and the alias that served them.
`?product_id=` returns the items with the most similar ALS item factors (cosine), never the item;
a product ALS has never seen (new, no interactions: cold start) gets its nearest neighbours by
embedding from the FAISS artifact instead (`similar_content`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

import msgspec
import numpy as np

from api.recommendations.schemas import RecommendationsResponse, RecommendedItem
from quarry.adapters.artifact_store import ArtifactStore
from quarry.adapters.cache import CacheError, KeyValueStore
from quarry.canary import EMPTY, ERROR, OK, CanaryTraffic
from quarry.catalog_priors import ARTIFACT as PRIORS_ARTIFACT
from quarry.catalog_priors import CatalogPriors
from quarry.experiments.assignment import INTERLEAVED
from quarry.experiments.definitions import Changes
from quarry.experiments.interleaving import A, B, team_draft
from quarry.experiments.live import Exposure, LiveExperiments, merged
from quarry.hot_artifact import HotArtifact
from quarry.metrics import RECOMMENDATIONS
from quarry.model_aliases import CANARY, CHAMPION, SHADOW
from quarry.privacy import ShopperPrivacy
from quarry.recommendation_log import RecommendationLog
from quarry.recommenders import ARTIFACT, MIN_INTERACTIONS, ALSRecommender
from quarry.redis_keys import SESSION_KEEP, popular_key, session_key
from quarry.shadow import ShadowRunner
from quarry.tracing import current_span, span

log = logging.getLogger("api.recommendations")

SESSION_WEIGHT = 0.5
POPULAR_K = 50


class UnknownProductError(LookupError):
    """Similar items were asked for a product the model has never seen."""


class History(msgspec.Struct):
    interactions: int
    purchased: list[str]


class ActiveModel:
    def __init__(self, version: str, store: ArtifactStore) -> None:
        metadata = store.metadata(ARTIFACT, version)
        files = {name: store.read(ARTIFACT, version, name) for name in metadata["files"]}
        self.version = version
        self.als = ALSRecommender.load(files, metadata["parameters"])
        self.history = msgspec.json.decode(files["history.json"], type=dict[str, History])
        self.departments = msgspec.json.decode(files["item_departments.json"], type=dict[str, str])
        self.popular = msgspec.json.decode(files["popular.json"], type=list[str])
        self.item_index = {item: i for i, item in enumerate(self.als.item_ids)}
        norms = np.linalg.norm(self.als.item_factors, axis=1, keepdims=True)
        self.unit_items = self.als.item_factors / np.maximum(norms, 1e-9)


def load_priors(store: ArtifactStore, version: str) -> CatalogPriors:
    metadata = store.metadata(PRIORS_ARTIFACT, version)
    files = {name: store.read(PRIORS_ARTIFACT, version, name) for name in metadata["files"]}
    return CatalogPriors.load(files, metadata.get("parameters"))


# (product id, k) -> up to k (product id, cosine) neighbours by embedding, or None when unknown.
ContentNeighbours = Callable[[str, int], list[tuple[str, float]] | None]


def _counted(response: RecommendationsResponse) -> RecommendationsResponse:
    RECOMMENDATIONS.labels(response.strategy).inc()
    current_span().set_attributes(
        {"quarry.recommendations.strategy": response.strategy, "quarry.results": len(response.items)}
    )
    return response


class RecommendationService:
    def __init__(
        self,
        store: ArtifactStore,
        kv: KeyValueStore,
        reload_interval_s: float,
        content_neighbours: ContentNeighbours | None = None,
        *,
        privacy: ShopperPrivacy,
        shadow: ShadowRunner | None = None,
        canary: CanaryTraffic | None = None,
        experiments: LiveExperiments | None = None,
        records: RecommendationLog | None = None,
    ) -> None:
        """`privacy`: see SearchService: held by the service so the route has one dependency.
        `shadow`: computes a share of requests again with the registry's `shadow` version, off the
        request path (docs/model-lifecycle.md); None or a share of 0: never.
        `canary`: serves a share of shoppers with the registry's `canary` version; None or a share
        of 0: the canary alias is ignored.
        `experiments`: the recommendation experiments (strategy or ALS alias per variant); a shopper
        in one is served as the variant says, outside the canary and the shadow.
        `records`: where each personal answer is recorded (quarry/recommendation_log.py)."""
        self.privacy = privacy
        self._kv = kv
        self._content_neighbours = content_neighbours
        self._model: HotArtifact[ActiveModel | None] = HotArtifact(
            store, ARTIFACT, lambda version: ActiveModel(version, store), reload_interval_s, None
        )
        self._shadow_runner = shadow if shadow is not None and shadow.share > 0 else None

        def following(alias: str) -> HotArtifact[ActiveModel | None]:
            return HotArtifact(
                store,
                ARTIFACT,
                lambda version: ActiveModel(version, store),
                reload_interval_s,
                None,
                follow=alias,
            )

        self._shadow = following(SHADOW) if self._shadow_runner is not None else None
        self._canary_traffic = canary if canary is not None and canary.share > 0 else None
        self._canary = following(CANARY) if self._canary_traffic is not None else None
        self._experiments = experiments
        self._following = following
        self._aliased: dict[str, HotArtifact[ActiveModel | None]] = {}
        self._records = records
        self._priors: HotArtifact[CatalogPriors | None] = HotArtifact(
            store, PRIORS_ARTIFACT, lambda version: load_priors(store, version), reload_interval_s, None
        )

    @property
    def version(self) -> str | None:
        return self._model.version

    def _current(self) -> ActiveModel | None:
        return self._model.get()

    def _session_items(self, session_id: str | None) -> list[str]:
        if not session_id:
            return []
        try:
            return self._kv.recent(session_key(session_id), SESSION_KEEP)
        except CacheError:
            return []

    def _similar_to(self, model: ActiveModel, items: list[str]) -> np.ndarray | None:
        rows = [model.item_index[i] for i in items if i in model.item_index]
        if not rows:
            return None
        centre = model.unit_items[rows].mean(axis=0)
        similarity: np.ndarray = model.unit_items @ (centre / max(float(np.linalg.norm(centre)), 1e-9))
        return similarity

    def _popular(self, model: ActiveModel | None, category: str | None) -> list[str]:
        try:
            raw = self._kv.get(popular_key(category or "all", POPULAR_K))
        except CacheError:
            raw = None
        if raw is not None:
            return msgspec.json.decode(raw, type=list[str])
        fallback = model.popular if model else []
        return [i for i in fallback if not category or (model and model.departments.get(i) == category)]

    def for_user(
        self,
        user_id: str | None,
        k: int,
        category: str | None,
        session_id: str | None,
        *,
        track: bool,
    ) -> RecommendationsResponse:
        """`user_id` None: an anonymous shopper (the session's items, else popular ones). `track`
        False: the answer is recorded without the shopper's ids (docs/privacy.md#consent); required,
        so that no caller records ids by default."""
        with span("recommendations.for_user"):
            started, now = time.perf_counter(), dt.datetime.now(dt.UTC)
            request_id = uuid.uuid4().hex
            exposure = self._experiments.exposure(user_id, session_id, now) if self._experiments else None
            if exposure is not None:
                response = self._in_experiment(exposure, request_id, user_id, k, category, session_id)
            else:
                response = self._served(request_id, user_id, k, category, session_id, track)
            if self._records is not None:
                self._records.record(
                    request_id=request_id,
                    user_id=user_id if track else None,
                    session_id=session_id if track else None,
                    items=[item.product_id for item in response.items],
                    attributes={
                        "strategy": response.strategy,
                        "model_alias": response.model_alias or CHAMPION,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                        **({"model_version": response.model_version} if response.model_version else {}),
                        **({"experiments": exposure.as_attributes()} if exposure is not None else {}),
                        **({"teams": response.teams} if response.teams else {}),
                    },
                    now=now,
                )
            return _counted(response)

    def _served(
        self,
        request_id: str,
        user_id: str | None,
        k: int,
        category: str | None,
        session_id: str | None,
        track: bool,
    ) -> RecommendationsResponse:
        """Outside experiments: the champion, or the canary for its share, with the shadow sampled."""
        champion = self._current()
        canary = self._canary.get() if self._canary is not None else None
        if canary is None or champion is None or canary.version == champion.version:
            response = msgspec.structs.replace(
                self._personal(champion, user_id, k, category, session_id),
                model_alias=CHAMPION,
                request_id=request_id,
            )
            self._maybe_shadow(response, user_id, k, category, session_id)
            return response
        return self._canary_window(champion, canary, request_id, user_id, k, category, session_id, track)

    def _in_experiment(
        self,
        exposure: Exposure,
        request_id: str,
        user_id: str | None,
        k: int,
        category: str | None,
        session_id: str | None,
    ) -> RecommendationsResponse:
        """As the shopper's variants say; in an interleaving experiment, both teams' answers merged
        by team draft (seeded by the request id), each item's team in `teams`."""
        teams = exposure.interleaving
        if teams is None:
            response = self._answer(exposure.changes, user_id, k, category, session_id)
        else:
            a, b = (
                self._answer(merged([exposure.changes, v.changes]), user_id, k, category, session_id)
                for v in (teams.a, teams.b)
            )
            drafted = team_draft(
                [i.product_id for i in a.items], [i.product_id for i in b.items], k, request_id
            )
            items = {i.product_id: i for i in b.items} | {i.product_id: i for i in a.items}
            names = {A: teams.a.name, B: teams.b.name}
            response = msgspec.structs.replace(
                a,
                strategy=INTERLEAVED,
                items=[items[product_id] for product_id in drafted.items],
                teams=[names[team] for team in drafted.teams],
            )
        return msgspec.structs.replace(response, request_id=request_id, experiments=exposure.assignments)

    def _alias(self, alias: str) -> HotArtifact[ActiveModel | None]:
        """The model under a registry alias a variant serves, followed from its first request on
        (experiments may be defined while the service runs)."""
        found = self._aliased.get(alias)
        if found is None:
            found = self._aliased.setdefault(alias, self._following(alias))
        return found

    def _answer(
        self, changes: Changes, user_id: str | None, k: int, category: str | None, session_id: str | None
    ) -> RecommendationsResponse:
        """A variant's strategy (`popularity`: the popular items for everyone; `als`: the usual
        choice) from its ALS alias; an alias with no version is answered by the champion, and the
        response says which alias served."""
        alias = changes.model_aliases.get(ARTIFACT, CHAMPION)
        model = self._alias(alias).get() if alias != CHAMPION else None
        if model is None:
            alias, model = CHAMPION, self._current()
        if changes.recommendations == "popularity":
            history = model.history.get(user_id) if model and user_id else None
            purchased = set(history.purchased) if history else set()
            response = self._popular_or_priors(model, k, category, purchased, user_id)
        else:
            response = self._personal(model, user_id, k, category, session_id)
        return msgspec.structs.replace(response, model_alias=alias)

    def _canary_window(
        self,
        champion: ActiveModel,
        canary: ActiveModel,
        request_id: str,
        user_id: str | None,
        k: int,
        category: str | None,
        session_id: str | None,
        track: bool,
    ) -> RecommendationsResponse:
        """A request while a canary is live: served by the variant the shopper is assigned to, and
        recorded either way (without the shopper's unit when they opted out of tracking). A canary
        that fails is answered by the champion (the shopper never pays for it) and recorded as the
        canary's error."""
        traffic = self._canary_traffic
        assert traffic is not None  # noqa: S101 - a canary model is only loaded with traffic settings
        subject = user_id or session_id
        variant = CANARY if traffic.assigned(canary.version, subject) else CHAMPION
        model = canary if variant == CANARY else champion
        started = time.perf_counter()

        def record(outcome: str, served: RecommendationsResponse | None, latency_s: float) -> None:
            """`served` None: nothing was (the champion failed, and so does the request)."""
            traffic.record(
                request_id=request_id,
                artifact=ARTIFACT,
                canary_version=canary.version,
                subject=subject if track else None,
                variant=variant,
                served_version=served.model_version if served else model.version,
                strategy=served.strategy if served else "error",
                outcome=outcome,
                results=len(served.items) if served else 0,
                latency_s=latency_s,
            )

        try:
            response = self._personal(model, user_id, k, category, session_id)
        except Exception as exc:
            latency = time.perf_counter() - started
            if variant == CHAMPION:
                record(ERROR, None, latency)
                raise
            log.warning(
                "canary version failed; the champion answers",
                extra={"artifact": ARTIFACT, "version": canary.version, "error": repr(exc)},
            )
            response = self._personal(champion, user_id, k, category, session_id)
            record(ERROR, response, latency)
        else:
            record(OK if response.items else EMPTY, response, time.perf_counter() - started)
        return msgspec.structs.replace(response, model_alias=variant, request_id=request_id)

    def flush_records(self) -> None:
        """Write the answer records waiting in the batch now (tests, shutdown)."""
        if self._records is not None:
            self._records.flush()

    def close(self) -> None:
        """Write what the shadow, canary and answer records still hold (at shutdown)."""
        if self._shadow_runner is not None:
            self._shadow_runner.drain()
        if self._canary_traffic is not None:
            self._canary_traffic.close()
        if self._records is not None:
            self._records.close()

    def _maybe_shadow(
        self,
        response: RecommendationsResponse,
        user_id: str | None,
        k: int,
        category: str | None,
        session_id: str | None,
    ) -> None:
        """Only for answers the champion model gave (not popularity or priors, which a shadow
        model would give alike)."""
        if self._shadow_runner is None or self._shadow is None or response.model_version is None:
            return
        if response.model_alias != CHAMPION:  # the shadow is compared with the champion only
            return
        if (
            response.strategy.startswith(("popularity", "catalog_priors"))
            or not self._shadow_runner.sampled()
        ):
            return
        shadow = self._shadow.get()
        if shadow is None or shadow.version == response.model_version:
            return
        self._shadow_runner.submit(
            ARTIFACT,
            shadow.version,
            response,
            lambda: self._personal(shadow, user_id, k, category, session_id),
        )

    def similar(self, product_id: str, k: int) -> RecommendationsResponse:
        with span("recommendations.similar"):
            return _counted(self._similar_items(product_id, k))

    def _personal(
        self,
        model: ActiveModel | None,
        user_id: str | None,
        k: int,
        category: str | None,
        session_id: str | None,
    ) -> RecommendationsResponse:
        history = model.history.get(user_id) if model and user_id else None
        exclude = set(history.purchased) if history else set()
        session = self._session_items(session_id)

        def allowed(item: str) -> bool:
            return item not in exclude and (
                not category or (model is not None and model.departments.get(item) == category)
            )

        row = model.als.user_index.get(user_id) if model and user_id else None
        if model and history and row is not None and history.interactions >= MIN_INTERACTIONS:
            scores: np.ndarray = model.als.item_factors @ model.als.user_factors[row]
            session_scores = self._similar_to(model, session)
            strategy, reason = "collaborative", "people with similar tastes engaged with this"
            if session_scores is not None:
                scores = scores / max(float(np.abs(scores).max()), 1e-9) + SESSION_WEIGHT * session_scores
                strategy, reason = "collaborative+session", "your tastes and this session"
            return self._top(model, scores, k, allowed, strategy, reason, user_id=user_id)
        if model and session:
            session_scores = self._similar_to(model, session)
            if session_scores is not None:
                return self._top(
                    model,
                    session_scores,
                    k,
                    lambda i: allowed(i) and i not in session,
                    "session",
                    "similar to what you just looked at",
                    user_id=user_id,
                )
        return self._popular_or_priors(model, k, category, exclude, user_id)

    def _popular_or_priors(
        self, model: ActiveModel | None, k: int, category: str | None, exclude: set[str], user_id: str | None
    ) -> RecommendationsResponse:
        """The events' popular items, topped up to k from the catalog priors when they are fewer."""
        popular = [i for i in self._popular(model, category) if i not in exclude][:k]
        priors = self._priors.get() if len(popular) < k else None
        taken = set(popular)
        from_priors: list[str] = []
        for item in priors.top(category, k + len(exclude) + len(popular)) if priors else []:
            if len(popular) + len(from_priors) >= k:
                break
            if item not in exclude and item not in taken:
                from_priors.append(item)
        where = f" in {category}" if category else ""
        labelled = [(i, f"popular{where}") for i in popular] + [
            (i, f"well rated{where}") for i in from_priors
        ]
        if not from_priors:
            strategy, version = "popularity", model.version if model else None
        elif popular:
            strategy, version = "popularity+catalog_priors", model.version if model else None
        else:
            strategy, version = "catalog_priors", self._priors.version
        return RecommendationsResponse(
            strategy=strategy,
            user_id=user_id,
            model_version=version,  # the model this answer came from
            items=[
                RecommendedItem(i, round(1.0 - n / max(1, len(labelled)), 4), reason)
                for n, (i, reason) in enumerate(labelled)
            ],
        )

    def product_affinity(self, user_id: str | None, product_ids: list[str]) -> dict[str, float]:
        """For users ALS knows (>= MIN_INTERACTIONS): user-item scores of these products, divided by the
        largest and clipped at 0, so the ranking's `affinity` is in [0, 1]. Empty for everyone else."""
        model = self._current()
        row = model.als.user_index.get(user_id or "") if model else None
        history = model.history.get(user_id or "") if model else None
        if model is None or row is None or history is None or history.interactions < MIN_INTERACTIONS:
            return {}
        known = [(p, model.item_index[p]) for p in product_ids if p in model.item_index]
        if not known:
            return {}
        scores = model.als.item_factors[[i for _, i in known]] @ model.als.user_factors[row]
        top = float(scores.max())
        if top <= 0:
            return {}
        return {p: round(max(0.0, float(s)) / top, 6) for (p, _), s in zip(known, scores, strict=True)}

    def _similar_items(self, product_id: str, k: int) -> RecommendationsResponse:
        model = self._current()
        if model is None or product_id not in model.item_index:
            return self._similar_content(product_id, k)
        scores = self._similar_to(model, [product_id])
        assert scores is not None  # noqa: S101 - narrows a type; not a check of input
        return self._top(
            model,
            scores,
            k,
            lambda i: i != product_id,
            "similar_items",
            "bought and viewed by the same people",
            product_id=product_id,
        )

    def _similar_content(self, product_id: str, k: int) -> RecommendationsResponse:
        neighbours = self._content_neighbours(product_id, k) if self._content_neighbours else None
        if not neighbours:
            raise UnknownProductError(
                f"no interactions and no embedding are known for product {product_id!r}"
            )
        return RecommendationsResponse(
            strategy="similar_content",
            items=[
                RecommendedItem(pid, round(score, 4), "similar description and attributes")
                for pid, score in neighbours
            ],
            product_id=product_id,
        )

    def _top(
        self,
        model: ActiveModel,
        scores: np.ndarray,
        k: int,
        keep: Callable[[str], bool],
        strategy: str,
        reason: str,
        user_id: str | None = None,
        product_id: str | None = None,
    ) -> RecommendationsResponse:
        items: list[RecommendedItem] = []
        for index in np.argsort(-scores, kind="stable"):
            item = model.als.item_ids[index]
            if keep(item):
                items.append(RecommendedItem(item, round(float(scores[index]), 4), reason))
                if len(items) == k:
                    break
        return RecommendationsResponse(
            strategy=strategy,
            items=items,
            user_id=user_id,
            product_id=product_id,
            model_version=model.version,
        )

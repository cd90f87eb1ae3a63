"""Training examples for the learned ranker (docs/ltr.md#judgments), from two sources on one grade
scale (0 to 4, the golden set's):

- **golden**: every golden query's ranked window through the search core, labelled with the golden
  set's grades (an unjudged product is 0, as `make eval` counts it);
- **clicks**: the logged windows of live and replayed searches (quarry-ltr-features-*), labelled
  with the position-based click model's attractiveness of (query, product), as round(4 * alpha), for
  pairs shown at least MIN_IMPRESSIONS times.

A query may have both: its golden group and its click group (the newest logged window of it) both
train, the click group at CLICK_WEIGHT of a golden group's weight, because its labels are estimates.
Evaluation uses golden grades only, and
cross-validation keeps every group of one query in one fold. Examples keep the window's order, the
formula's, so the formula is scored on exactly the same examples as the model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import msgspec
from tqdm import tqdm

from pipelines.ltr.click_model import PositionBasedModel
from quarry.adapters.search_engine import SearchEngine
from quarry.ltr.feature_log import INDEX_PREFIX, FeatureRecord
from quarry.ltr.ranker import TrainingSet
from quarry.search.schemas import SearchRequest
from quarry.search.service import SearchService

MIN_IMPRESSIONS = 20
CLICK_WEIGHT = 0.5
MAX_GRADE = 4


class Group(msgspec.Struct, frozen=True):
    """One query's examples, in the formula's (window) order."""

    query: str
    source: str  # golden | clicks
    products: list[str]
    features: list[list[float]]
    labels: list[int]
    departments: list[str] = []
    """Each example's top-level category (the Phase-2 baseline weighs by it); empty when unknown."""
    at: str = ""
    """When the logged search happened (click groups): the time split holds out the newest."""


def golden_groups(
    service: SearchService,
    judgments: dict[str, dict[str, int]],
    queries: Iterable[str],
    unordered: dict[str, float] | None = None,
) -> list[Group]:
    """`unordered`, when given, receives the NDCG@10 of each golden query whose window has nothing to
    order (every product the same grade): the same for any ranker, it still counts in the average
    over the golden set."""
    assert service.features is not None  # noqa: S101 - the assembly always gives it one
    groups = []
    for query in tqdm(list(queries), desc="golden windows", unit="query"):
        graded = judgments.get(query)
        if not graded:
            continue
        window = service.feature_window(SearchRequest(q=query))
        vectors = service.features.extract(window.context, window.product_ids)
        department = dict(zip(window.product_ids, window.departments, strict=True))
        shown = [p for p in window.product_ids if p in vectors.vectors]
        labels = [graded.get(p, 0) for p in shown]  # unjudged is 0, as make eval counts it
        if len(set(labels)) < 2:  # nothing to order: every example has the same grade
            if unordered is not None:
                unordered[query] = 1.0 if labels and labels[0] > 0 else 0.0
            continue
        groups.append(
            Group(
                query,
                "golden",
                shown,
                [vectors.vectors[p] for p in shown],
                labels,
                [department.get(p, "") for p in shown],
            )
        )
    return groups


def click_groups(
    records: Iterable[FeatureRecord], model: PositionBasedModel, formula_at: int | None = None
) -> list[Group]:
    """One group per query the click model knows: the window of its newest logged
    search. A query's click grades are the same in every search of it, so more searches of one
    query would only repeat its labels, and a busy query (or a benchmark's traffic, which is logged
    too) would outweigh the golden set. `formula_at`: the index of the formula's score among the
    features, when the feature set has it: a window a model ordered is put back in the formula's
    order (the baseline is scored by example order); without it, the shown order stands."""
    newest: dict[str, list[FeatureRecord]] = {}
    by_search: defaultdict[str, list[FeatureRecord]] = defaultdict(list)
    for record in records:
        by_search[record.query_id].append(record)
    for found in by_search.values():
        query = found[0].query
        if query not in newest or found[0].at > newest[query][0].at:
            newest[query] = found
    groups = []
    for query, found in sorted(newest.items()):
        found.sort(key=lambda r: r.window_rank)
        if formula_at is not None:  # stable: ties keep the shown order
            found.sort(key=lambda r: -r.features[formula_at])
        alpha, shown = model.attractiveness.get(query, {}), model.impressions.get(query, {})
        labelled = [r for r in found if shown.get(r.product_id, 0) >= MIN_IMPRESSIONS]
        labels = [min(MAX_GRADE, round(MAX_GRADE * alpha[r.product_id])) for r in labelled]
        if len(labelled) < 2 or len(set(labels)) < 2:
            continue
        products, vectors = [r.product_id for r in labelled], [r.features for r in labelled]
        groups.append(Group(query, "clicks", products, vectors, labels, at=found[0].at))
    return groups


def read_records(engine: SearchEngine, featureset: str) -> list[FeatureRecord]:
    if not engine.index_exists(f"{INDEX_PREFIX}-*"):
        return []
    query = {"term": {"featureset": featureset}}
    return [msgspec.convert(h.source, FeatureRecord) for h in engine.scan(f"{INDEX_PREFIX}-*", query)]


def training_set(groups: list[Group], names: list[str]) -> TrainingSet:
    return TrainingSet(
        names=names,
        queries=[g.query for g in groups],
        groups=[len(g.labels) for g in groups],
        features=[row for g in groups for row in g.features],
        labels=[label for g in groups for label in g.labels],
        weights=[1.0 if g.source == "golden" else CLICK_WEIGHT for g in groups],
        products=[p for g in groups for p in g.products],
    )

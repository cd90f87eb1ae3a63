"""`make train-ltr`: train the learned ranker, compare it with the formula on the same folds, and
register it as a candidate (docs/ltr.md#training).

k-fold cross-validation by query (no query in two folds): in each fold the model trains on the
other folds and is scored on the fold's golden queries after each of ROUND_CHOICES rounds, where the
formula is scored on the same examples (its own window order). The rounds that score best over all
folds are chosen, and the model registered is trained on every group for that many."""

from __future__ import annotations

import datetime as dt
import logging
import random
import statistics
from typing import Any

import msgspec

from pipelines.ltr.dataset import Group, training_set
from pipelines.ltr.phase2 import Phase2Weights
from quarry.judgments import K, dcg
from quarry.ltr.ranker import ARTIFACT, LtrRanker

log = logging.getLogger("pipelines.ltr")

FOLDS = 5
SEED = 7


class FoldResult(msgspec.Struct, frozen=True):
    fold: int
    golden_queries: int
    formula_ndcg_at_10: float
    phase2_ndcg_at_10: float
    ltr_ndcg_at_10: float
    """At the rounds cross-validation chose for all folds."""
    best_iteration: int
    """The last round (from 0) of the choice that would have been best for this fold alone."""


class CrossValidation(msgspec.Struct, frozen=True):
    folds: list[FoldResult]
    formula_ndcg_at_10: float
    phase2_ndcg_at_10: float
    ltr_ndcg_at_10: float
    rounds: int
    per_query: dict[str, list[float]] = {}
    """Golden query -> [formula, Phase-2, LTR] NDCG@10, each scored by the fold that did not train on
    it."""


def ndcg_at(labels_in_order: list[int], k: int = K) -> float:
    """NDCG@k of a window in this order, with make eval's gains (2^grade - 1); the ideal is the
    window's own best order."""
    ideal = dcg(sorted(labels_in_order, reverse=True)[:k])
    return dcg(labels_in_order[:k]) / ideal if ideal else 0.0


def _by_model(group: Group, scores: list[float]) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))  # ties keep the window order
    return [group.labels[i] for i in order]


def folds_of(groups: list[Group], folds: int = FOLDS, seed: int = SEED) -> list[int]:
    """A fold per group, by query: every group of one query lands in the same fold."""
    queries = sorted({g.query for g in groups})
    random.Random(seed).shuffle(queries)  # noqa: S311 - a reproducible split, not a secret
    fold = {q: i % folds for i, q in enumerate(queries)}
    return [fold[g.query] for g in groups]


ROUND_CHOICES = (10, 20, 30, 45, 60, 90, 120)
"""The boosting rounds cross-validation chooses from. Each fold's model is trained once, for the
most rounds, and scored after each choice (a prefix of its trees). This replaced early stopping in
each fold on a tenth of its queries (about 40), whose best round jumped between 0 and 103 and which
cost the model a tenth of its scarce examples (session 27, six fold seeds on the same examples:
+0.0136 ± 0.0086 with early stopping, +0.0213 ± 0.0034 with 30 rounds)."""


def _fold_model(
    groups: list[Group], assignment: list[int], fold: int, names: list[str], params: dict[str, Any] | None
) -> tuple[list[Group], list[Group], LtrRanker] | None:
    """The fold's golden groups, the groups of the other folds, and the model trained on those for
    the most rounds of ROUND_CHOICES; None when the fold has nothing to score."""
    test = [g for g, f in zip(groups, assignment, strict=True) if f == fold and g.source == "golden"]
    rest = [g for g, f in zip(groups, assignment, strict=True) if f != fold]
    if not test or len(rest) < 10:
        return None
    model = LtrRanker(params, rounds=max(ROUND_CHOICES))
    model.fit(training_set(rest, names))
    return test, rest, model


def _learned(test: list[Group], model: LtrRanker) -> dict[int, list[float]]:
    """NDCG@10 of each test group ranked by the model's first `rounds` trees, by rounds."""
    return {
        rounds: [ndcg_at(_by_model(g, model.score(g.features, rounds))) for g in test]
        for rounds in ROUND_CHOICES
    }


def cross_validate(
    groups: list[Group], names: list[str], params: dict[str, Any] | None = None
) -> CrossValidation:
    """The rounds are chosen by the pooled NDCG@10 of every fold's golden queries, and every LTR
    number reported is at that choice."""
    assignment = folds_of(groups)
    scored = []
    for fold in range(FOLDS):
        trained = _fold_model(groups, assignment, fold, names, params)
        if trained is None:
            continue
        test, rest, model = trained
        phase2 = Phase2Weights(names)
        phase2.fit(rest)
        formula = [ndcg_at(g.labels) for g in test]
        tuned = [phase2.ndcg(g) for g in test]
        scored.append((fold, test, formula, tuned, _learned(test, model)))
    pooled = {r: statistics.fmean(v for *_, learned in scored for v in learned[r]) for r in ROUND_CHOICES}
    rounds = max(ROUND_CHOICES, key=lambda r: (pooled[r], -r))  # a tie: the smaller model
    results = []
    per_query: dict[str, list[float]] = {}
    for fold, test, formula, tuned, learned in scored:
        for group, *scores in zip(test, formula, tuned, learned[rounds], strict=True):
            per_query[group.query] = [round(v, 4) for v in scores]
        own_best = max(ROUND_CHOICES, key=lambda r: (statistics.fmean(learned[r]), -r))
        results.append(
            FoldResult(
                fold=fold,
                golden_queries=len(test),
                formula_ndcg_at_10=round(statistics.fmean(formula), 4),
                phase2_ndcg_at_10=round(statistics.fmean(tuned), 4),
                ltr_ndcg_at_10=round(statistics.fmean(learned[rounds]), 4),
                best_iteration=own_best - 1,
            )
        )
        log.info("fold scored", extra=msgspec.to_builtins(results[-1]))
    return CrossValidation(
        folds=results,
        formula_ndcg_at_10=round(statistics.fmean(v[0] for v in per_query.values()), 4),
        phase2_ndcg_at_10=round(statistics.fmean(v[1] for v in per_query.values()), 4),
        ltr_ndcg_at_10=round(statistics.fmean(v[2] for v in per_query.values()), 4),
        rounds=rounds,
        per_query=per_query,
    )


class SeedSpread(msgspec.Struct, frozen=True):
    """LTR - formula golden NDCG@10 on the same examples, cross-validated once per fold seed: which
    queries share a fold moves one run's gain by about as much as a feature does (session 27: one
    feature set from +0.0065 to +0.0148), so a change is judged by the mean and spread over seeds."""

    seeds: list[int]
    gains: list[float]
    mean: float
    sd: float


SPREAD_SEEDS = tuple(range(SEED, SEED + 6))


def ltr_gain(
    groups: list[Group], names: list[str], seed: int, rounds: int, params: dict[str, Any] | None = None
) -> float:
    """LTR - formula NDCG@10 over the golden groups, each scored by the model (`rounds` trees) of the
    fold, drawn with `seed`, that did not train on it."""
    assignment = folds_of(groups, seed=seed)
    gains = []
    for fold in range(FOLDS):
        trained = _fold_model(groups, assignment, fold, names, params)
        if trained is not None:
            test, _, model = trained
            gains += [
                ndcg_at(_by_model(g, model.score(g.features, rounds))) - ndcg_at(g.labels) for g in test
            ]
    return statistics.fmean(gains) if gains else 0.0


def seed_spread(
    groups: list[Group],
    names: list[str],
    rounds: int,
    seeds: tuple[int, ...] = SPREAD_SEEDS,
    params: dict[str, Any] | None = None,
) -> SeedSpread:
    """At the rounds one cross-validation chose (so the other seeds' folds judge that choice)."""
    gains = [round(ltr_gain(groups, names, seed, rounds, params), 4) for seed in seeds]
    sd = statistics.stdev(gains) if len(gains) > 1 else 0.0
    return SeedSpread(list(seeds), gains, round(statistics.fmean(gains), 4), round(sd, 4))


class TimeSplit(msgspec.Struct, frozen=True):
    """Click NDCG@10 on the queries logged last, by a model trained on the queries logged before (and
    the golden groups of other queries): what the learned ranker does for queries it has not seen,
    later in time. A held-out query is left out of training altogether, golden group included, since
    its grades would otherwise be learned."""

    train_click_groups: int
    held_out_click_groups: int
    held_out_from: str
    formula_ndcg_at_10: float
    ltr_ndcg_at_10: float
    relative_gain: float


def time_split(
    groups: list[Group],
    names: list[str],
    rounds: int,
    held_out_share: float = 0.2,
    params: dict[str, Any] | None = None,
) -> TimeSplit | None:
    """None when there are too few click groups to hold some out. `rounds`: as cross-validation
    chose them."""
    clicks = sorted((g for g in groups if g.source == "clicks"), key=lambda g: g.at)
    cut = int(len(clicks) * (1 - held_out_share))
    if cut < 10 or len(clicks) - cut < 5:
        return None
    held_out = clicks[cut:]
    later = {g.query for g in held_out}
    train = [g for g in groups if g.source != "clicks" and g.query not in later] + clicks[:cut]
    model = LtrRanker(params, rounds=rounds)
    model.fit(training_set(train, names))
    formula = statistics.fmean(ndcg_at(g.labels) for g in held_out)
    learned = statistics.fmean(ndcg_at(_by_model(g, model.score(g.features))) for g in held_out)
    return TimeSplit(
        train_click_groups=cut,
        held_out_click_groups=len(held_out),
        held_out_from=held_out[0].at,
        formula_ndcg_at_10=round(formula, 4),
        ltr_ndcg_at_10=round(learned, 4),
        relative_gain=round(learned / formula - 1, 4) if formula else 0.0,
    )


def train_final(
    groups: list[Group], names: list[str], rounds: int, params: dict[str, Any] | None = None
) -> LtrRanker:
    model = LtrRanker(params, rounds=rounds)
    model.fit(training_set(groups, names))
    return model


def metadata(
    model: LtrRanker, cv: CrossValidation, groups: list[Group], featureset: str, commit: str, now: dt.datetime
) -> dict[str, Any]:
    return {
        **model.metadata(),
        "featureset": featureset,
        "data_window": {
            "built_at": now.isoformat(),
            "golden_groups": sum(1 for g in groups if g.source == "golden"),
            "click_groups": sum(1 for g in groups if g.source == "clicks"),
            "examples": sum(len(g.labels) for g in groups),
        },
        "metrics": {
            "cv_golden_ndcg_at_10": cv.ltr_ndcg_at_10,
            "cv_formula_golden_ndcg_at_10": cv.formula_ndcg_at_10,
            "cv_phase2_golden_ndcg_at_10": cv.phase2_ndcg_at_10,
            "cv_folds": [msgspec.to_builtins(f) for f in cv.folds],
        },
        "input_snapshot": {
            "judgments": "tests/golden/judgments.tsv.gz",
            "feature_log": "quarry-ltr-features-*",
        },
        "code_commit": commit,
        "artifact": ARTIFACT,
    }

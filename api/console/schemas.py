"""What the console's templates render, one Struct per page."""

from __future__ import annotations

import msgspec

from quarry.experiments.readout import ExperimentReport


class Choice(msgspec.Struct, frozen=True):
    name: str
    description: str


class Explanation(msgspec.Struct, frozen=True):
    """One line of a result's score: a formula component, or a feature that moved the LTR score."""

    name: str
    value: str


class ComparedResult(msgspec.Struct, frozen=True):
    rank: int
    product_id: str
    title: str
    brand: str
    category: str
    price: str
    score: float
    grade: int | None
    """The golden judgment (0-4); None: this product is not judged for the query, or the query is not
    in the golden set (NDCG counts an unjudged product as 0)."""
    movement: str
    """Against the other side: "new", "same", "up 3", "down 2"."""
    explanation: list[Explanation]


class WorkbenchSide(msgspec.Struct, frozen=True):
    choice: Choice
    total: int
    ndcg: float | None
    """NDCG@10 against the golden judgments; None when the query has none."""
    corrected: str | None
    understood: list[Explanation]
    """Corrections, entities, applied filters, intent, retrieval: how the query was read."""
    degraded: list[str]
    results: list[ComparedResult]


class QueryStat(msgspec.Struct, frozen=True):
    query: str
    searches: int
    rate: float | None
    """Click-through rate of the query's searches; None for the zero-result list."""
    href: str


class GoldenLoss(msgspec.Struct, frozen=True):
    query: str
    left_ndcg: float
    right_ndcg: float
    difference: float
    href: str


class WorkbenchPage(msgspec.Struct, frozen=True):
    query: str
    choices: list[Choice]
    left: str
    right: str
    sides: list[WorkbenchSide]
    judged: bool
    zero_result_queries: list[QueryStat]
    low_ctr_queries: list[QueryStat]
    window_days: int


class LossesPage(msgspec.Struct, frozen=True):
    choices: list[Choice]
    left: str
    right: str
    queries: int
    left_mean: float
    right_mean: float
    losses: list[GoldenLoss]
    """The golden queries where the right side loses most against the left, worst first."""
    ran: bool = True
    """False: the form alone (nothing compared yet)."""


class ExperimentRow(msgspec.Struct, frozen=True):
    name: str
    status: str
    layer: str
    unit: str
    surfaces: list[str]
    variants: list[str]
    href: str


class ExperimentsPage(msgspec.Struct, frozen=True):
    experiments: list[ExperimentRow]


class ExperimentPage(msgspec.Struct, frozen=True):
    row: ExperimentRow
    report: ExperimentReport


class LoginPage(msgspec.Struct, frozen=True):
    next: str
    error: str | None = None

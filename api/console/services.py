"""The relevance workbench and the experiment dashboard: what a relevance engineer compares, read
from the search core (previews that are neither cached nor logged), the golden judgments and UBI."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

import msgspec

from api.console.schemas import (
    Choice,
    ComparedResult,
    ExperimentPage,
    ExperimentRow,
    ExperimentsPage,
    Explanation,
    GoldenLoss,
    LossesPage,
    QueryStat,
    WorkbenchPage,
    WorkbenchSide,
)
from api.storefront.services import money
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.api_keys import NO_FILTERS, FixedFilters
from quarry.experiments.definitions import Changes, Experiment
from quarry.experiments.live import status, surfaces_of
from quarry.experiments.readout import PriceLookup, report
from quarry.judgments import load_judgments as read_judgments
from quarry.judgments import ndcg_at_10
from quarry.search.schemas import CachedPage, SearchRequest, SearchResult
from quarry.search.service import SearchService
from quarry.ubi import UBI_EVENTS, UBI_QUERIES

log = logging.getLogger("quarry.console")
SHOWN = 20
"""Results per side: the top ten that NDCG@10 scores, and ten more to see what moved out of them."""
WINDOW_DAYS = 7
WORST = 10
MIN_SEARCHES = 5
"""A query needs this many searches in the window before its CTR is listed (fewer is noise)."""
SAMPLED_SEARCHES = 100
"""Searches per query read for its CTR (OpenSearch's default limit of a top_hits aggregation)."""
WORKBENCH_PATH = "/ui/workbench"


class UnknownChoiceError(ValueError):
    """A side that is neither a built-in configuration nor a running experiment's variant."""


class Configuration(msgspec.Struct, frozen=True):
    choice: Choice
    changes: Changes | None = None
    learned: bool = True


BUILT_IN = [
    Configuration(Choice("live", "the live configuration, as shoppers get it")),
    Configuration(
        Choice("formula", "the live configuration ranked by the formula alone (no LTR)"), learned=False
    ),
    Configuration(
        Choice("keyword", "keyword retrieval only (BM25 with synonyms)"), Changes(retrieval="keyword")
    ),
    Configuration(Choice("semantic", "semantic retrieval only (k-NN)"), Changes(retrieval="semantic")),
    Configuration(Choice("hybrid", "keyword and semantic, fused"), Changes(retrieval="hybrid")),
]


def workbench_href(query: str, left: str, right: str) -> str:
    return f"{WORKBENCH_PATH}?{urlencode({'q': query, 'left': left, 'right': right})}"


def explanation(result: SearchResult) -> list[Explanation]:
    breakdown = result.score_breakdown
    if breakdown is None:
        return []
    lines = [
        Explanation(name, f"{part.value:.3f} × {part.weight:g} = {part.contribution:.3f}")
        for name, part in (
            ("text", breakdown.text),
            ("popularity", breakdown.popularity),
            ("freshness", breakdown.freshness),
            ("affinity", breakdown.affinity),
        )
    ]
    lines.append(Explanation("weights", breakdown.weights_for))
    lines.append(Explanation("bm25", f"{breakdown.bm25:.3f}"))
    if breakdown.keyword is not None:
        lines.append(Explanation("keyword (normalized)", f"{breakdown.keyword:.3f}"))
    if breakdown.semantic is not None:
        lines.append(Explanation("semantic (cosine)", f"{breakdown.semantic:.3f}"))
    if breakdown.ltr is not None:
        lines.append(Explanation("ltr", f"{breakdown.ltr.score:.3f} ({breakdown.ltr.model})"))
        for feature, value in (breakdown.ltr.top_contributions or {}).items():
            lines.append(Explanation(f"  {feature}", f"{value:+.3f}"))
    return lines


def understood(page: CachedPage) -> list[Explanation]:
    query = page.query
    lines = [Explanation("normalized", query.normalized), Explanation("intent", query.intent)]
    if query.corrected:
        lines.append(Explanation("corrected to", query.corrected))
    if query.did_you_mean:
        lines.append(Explanation("did you mean", query.did_you_mean))
    for field in query.entities.__struct_fields__:
        values = getattr(query.entities, field)
        if values:
            lines.append(Explanation(f"entity: {field}", ", ".join(values)))
    for applied in query.applied_filters:
        lines.append(
            Explanation("filter", f"{applied.field} {applied.operator} {applied.value} ('{applied.source}')")
        )
    retrieval = page.retrieval
    mode = retrieval.mode + (f", {retrieval.fusion} fusion" if retrieval.fusion else "")
    candidates = (
        f"{retrieval.keyword_candidates} keyword, {retrieval.semantic_candidates} semantic candidates"
    )
    lines.append(Explanation("retrieval", f"{mode}: {candidates}"))
    if page.fallback:
        lines.append(Explanation("fallback", page.fallback))
    lines.append(Explanation("match quality", page.match_quality))
    return lines


def movement(rank: int, other: dict[str, int], product_id: str) -> str:
    before = other.get(product_id)
    if before is None:
        return "new"
    if before == rank:
        return "same"
    return f"up {before - rank}" if before > rank else f"down {rank - before}"


class WorkbenchService:
    def __init__(
        self,
        search: SearchService,
        engine: SearchEngine,
        experiments: Sequence[Experiment],
        judgments_file: str,
        prices: PriceLookup | None = None,
    ) -> None:
        """`engine`: where UBI is (the worst-query lists and the experiment readouts); `prices`: the
        catalog's, for the readouts' revenue."""
        self.search_service = search
        self.engine = engine
        self.prices = prices
        self.experiments = experiments  # the list in force, updated as the admin API changes it
        # The definitions are loaded once at start-up, so the choices are fixed for the process.
        self.configurations = {c.choice.name: c for c in BUILT_IN}
        for experiment in self.experiments:
            if "search" not in surfaces_of(experiment):
                continue
            for variant in experiment.variants:
                name = f"{experiment.name}={variant.name}"
                description = f"experiment {experiment.name}, variant {variant.name}"
                self.configurations[name] = Configuration(Choice(name, description), variant.changes)
        self.choices = [c.choice for c in self.configurations.values()]
        self._judgments_file = Path(judgments_file)
        self._judgments: dict[str, dict[str, int]] | None = None

    @property
    def judgments(self) -> dict[str, dict[str, int]]:
        """Read once, when first asked for (a missing file: no judgments)."""
        if self._judgments is None:
            try:
                self._judgments = read_judgments(self._judgments_file)
            except OSError:
                log.warning(
                    "no golden judgments for the workbench", extra={"path": str(self._judgments_file)}
                )
                self._judgments = {}
        return self._judgments

    def _configuration(self, name: str) -> Configuration:
        found = self.configurations.get(name)
        if found is None:
            known = ", ".join(self.configurations)
            raise UnknownChoiceError(f"no configuration named {name!r}; known: {known}")
        return found

    def _preview(
        self, query: str, configuration: Configuration, size: int, fixed: FixedFilters
    ) -> CachedPage:
        request = SearchRequest(q=query, size=size, explain=size == SHOWN, track=False, fixed=fixed)
        return self.search_service.preview(
            request, configuration.changes, configuration.choice.name, configuration.learned
        )

    def _judged(self, query: str, page: CachedPage) -> dict[str, int] | None:
        return self.judgments.get(query.strip().lower()) or self.judgments.get(page.query.normalized)

    def compare(self, query: str, left: str, right: str, fixed: FixedFilters = NO_FILTERS) -> WorkbenchPage:
        chosen = [self._configuration(left), self._configuration(right)]
        pages = [self._preview(query, c, SHOWN, fixed) for c in chosen] if query.strip() else []
        ranks = [{r.product_id: i for i, r in enumerate(page.results, 1)} for page in pages]
        sides = []
        judged: dict[str, int] | None = None
        for index, (configuration, page) in enumerate(zip(chosen, pages, strict=False)):
            judged = self._judged(query, page)
            other = ranks[1 - index]
            results = [
                ComparedResult(
                    rank=rank,
                    product_id=result.product_id,
                    title=result.title,
                    brand=result.brand,
                    category=result.category.split(" > ")[-1],
                    price=money(result.price),
                    score=round(result.score, 4),
                    grade=judged.get(result.product_id) if judged else None,
                    movement=movement(rank, other, result.product_id),
                    explanation=explanation(result),
                )
                for rank, result in enumerate(page.results, 1)
            ]
            ndcg = ndcg_at_10([r.product_id for r in page.results], judged) if judged else None
            sides.append(
                WorkbenchSide(
                    choice=configuration.choice,
                    total=page.total,
                    ndcg=round(ndcg, 4) if ndcg is not None else None,
                    corrected=page.query.corrected,
                    understood=understood(page),
                    degraded=page.degraded,
                    results=results,
                )
            )
        return WorkbenchPage(
            query=query,
            choices=self.choices,
            left=left,
            right=right,
            sides=sides,
            judged=judged is not None,
            zero_result_queries=self.zero_result_queries(left, right),
            low_ctr_queries=self.low_ctr_queries(left, right),
            window_days=WINDOW_DAYS,
        )

    def _recent(self) -> dict[str, object]:
        return {"range": {"timestamp": {"gte": f"now-{WINDOW_DAYS}d"}}}

    def zero_result_queries(self, left: str, right: str) -> list[QueryStat]:
        """The queries shoppers searched most in the window that found nothing."""
        body = {
            "size": 0,
            "query": {"bool": {"filter": [{"term": {"query_attributes.total": "0"}}, self._recent()]}},
            "aggs": {"queries": {"terms": {"field": "normalized_query", "size": WORST}}},
        }
        try:
            buckets = self.engine.search(UBI_QUERIES, body).aggregations["queries"]["buckets"]
        except (SearchEngineError, KeyError) as exc:
            log.warning("zero-result queries unreadable from UBI", extra={"error": str(exc)})
            return []
        return [
            QueryStat(str(b["key"]), int(b["doc_count"]), None, workbench_href(str(b["key"]), left, right))
            for b in buckets
        ]

    def low_ctr_queries(self, left: str, right: str) -> list[QueryStat]:
        """Among the window's frequent queries, those whose searches were clicked least: each
        query's latest searches (up to SAMPLED_SEARCHES) joined to their click events."""
        body = {
            "size": 0,
            "query": {"bool": {"filter": [self._recent()]}},
            "aggs": {
                "queries": {
                    "terms": {"field": "normalized_query", "size": 50, "min_doc_count": MIN_SEARCHES},
                    "aggs": {
                        "latest": {
                            "top_hits": {
                                "size": SAMPLED_SEARCHES,
                                "sort": [{"timestamp": "desc"}],
                                "_source": ["query_id"],
                            }
                        }
                    },
                }
            },
        }
        try:
            buckets = self.engine.search(UBI_QUERIES, body).aggregations["queries"]["buckets"]
            ids = {
                str(b["key"]): [str(h["_source"]["query_id"]) for h in b["latest"]["hits"]["hits"]]
                for b in buckets
            }
            every = sorted({q for found in ids.values() for q in found})
            clicked = self._clicked(every)
        except (SearchEngineError, KeyError) as exc:
            log.warning("low-CTR queries unreadable from UBI", extra={"error": str(exc)})
            return []
        stats = [
            QueryStat(
                query,
                len(found),
                sum(1 for q in found if q in clicked) / len(found),
                workbench_href(query, left, right),
            )
            for query, found in ids.items()
            if found
        ]
        return sorted(stats, key=lambda s: (s.rate or 0.0, -s.searches))[:WORST]

    def _clicked(self, query_ids: list[str]) -> set[str]:
        if not query_ids:
            return set()
        body = {
            "size": 0,
            "query": {
                "bool": {"filter": [{"terms": {"query_id": query_ids}}, {"term": {"action_name": "click"}}]}
            },
            "aggs": {"clicked": {"terms": {"field": "query_id", "size": len(query_ids)}}},
        }
        buckets = self.engine.search(f"{UBI_EVENTS}*", body).aggregations["clicked"]["buckets"]
        return {str(b["key"]) for b in buckets}

    def losses_form(self) -> LossesPage:
        return LossesPage(self.choices, "live", "formula", 0, 0.0, 0.0, [], ran=False)

    def losses(self, left: str, right: str, fixed: FixedFilters = NO_FILTERS) -> LossesPage:
        """Every golden query searched both ways (top ten, previews): where the right side loses
        most NDCG@10 against the left. Tens of seconds for the whole set: run on demand."""
        chosen = [self._configuration(left), self._configuration(right)]
        scored = []
        for query, judged in sorted(self.judgments.items()):
            if not any(grade > 0 for grade in judged.values()):
                continue  # nothing to find: every ranking scores the same
            ndcgs = [
                ndcg_at_10([r.product_id for r in self._preview(query, c, 10, fixed).results], judged)
                for c in chosen
            ]
            scored.append(
                GoldenLoss(
                    query,
                    round(ndcgs[0], 4),
                    round(ndcgs[1], 4),
                    round(ndcgs[1] - ndcgs[0], 4),
                    workbench_href(query, left, right),
                )
            )
        count = max(1, len(scored))
        return LossesPage(
            choices=self.choices,
            left=left,
            right=right,
            queries=len(scored),
            left_mean=round(sum(s.left_ndcg for s in scored) / count, 4),
            right_mean=round(sum(s.right_ndcg for s in scored) / count, 4),
            losses=sorted((s for s in scored if s.difference < 0), key=lambda s: s.difference)[:50],
        )

    def _row(self, experiment: Experiment, now: dt.datetime) -> ExperimentRow:
        return ExperimentRow(
            name=experiment.name,
            status=status(experiment, now),
            layer=experiment.layer,
            unit=experiment.unit,
            surfaces=list(surfaces_of(experiment)),
            variants=[f"{v.name} ({v.share:.0%})" for v in experiment.variants],
            href=f"/ui/experiments/{experiment.name}",
        )

    def experiments_page(self) -> ExperimentsPage:
        now = dt.datetime.now(dt.UTC)
        return ExperimentsPage([self._row(e, now) for e in self.experiments])

    def experiment_page(self, name: str) -> ExperimentPage | None:
        experiment = next((e for e in self.experiments if e.name == name), None)
        if experiment is None:
            return None
        now = dt.datetime.now(dt.UTC)
        return ExperimentPage(self._row(experiment, now), report(self.engine, experiment, now, self.prices))

"""The canary's guardrails: the canary's traffic against the champion's over the same window (the
requests recorded while that canary was live, quarry/canary.py), and the verdict the registry acts on
(docs/model-lifecycle.md#canary).

| guardrail | worse when | breached when |
|---|---|---|
| error rate | higher | up by more than 0.5 points, and significant |
| zero-result rate | higher | up by more than 2 points, and significant |
| p95 latency | higher | above 1.5 x the champion's and 5 ms more, over the minimum sample |
| CTR (a click on the answer, from UBI) | lower | down by more than 10 % of the champion's, and significant |
| add-to-cart rate (from UBI) | lower | down by more than 10 %, and significant |

"Significant" is a one-sided z-test at alpha 0.01. CTR and add-to-cart rate are tested per
shopper: a shopper keeps their variant, so their requests are not independent, and a per-request
test takes "which shoppers landed where" for an effect (the simulated canary of 300 shoppers that
should pass was rolled back in 2 of 26 runs). Each variant's rate is the sum of clicked requests
over the sum of requests; its variance comes from the spread of the shoppers' counts around it (the
delta method for a ratio, with K/(K-1) for K shoppers). Error and zero-result rates, which the
system decides per request, stay two-proportion tests. The watch looks every few minutes,
and looking often finds chance differences sooner or later; so before the minimum sample a breach
needs p < 0.001 (strong evidence, for a canary that is plainly broken), and after it p < 0.01. A rate
difference must also exceed its margin: a significant but tiny difference is not worth a rollback.

Verdicts: `breached` (roll it back), `passed` (both variants reached the minimum sample and nothing
is breached: it may become champion) or `watching`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from quarry.adapters.search_engine import SearchEngine
from quarry.canary import EMPTY, ERROR, INDEX
from quarry.experiments.stats import pooled_z
from quarry.model_aliases import CANARY, CHAMPION
from quarry.ubi import UBI_EVENTS

Verdict = Literal["watching", "passed", "breached"]
CLICK_ACTIONS = ("click",)
CART_ACTIONS = ("add_to_cart",)
ID_CHUNK = 1000


class CanaryPolicy(msgspec.Struct, frozen=True):
    min_requests: int = 1000
    """Per variant, before a canary can pass (settings.canary_min_requests)."""
    alpha: float = 0.01
    early_alpha: float = 0.001
    max_error_rate_increase: float = 0.005
    max_zero_result_increase: float = 0.02
    max_p95_ratio: float = 1.5
    min_p95_increase_ms: float = 5.0
    max_ctr_drop: float = 0.10
    max_add_to_cart_drop: float = 0.10


@dataclass(frozen=True)
class CanarySources:
    """Where a canary's evidence is: its request records (the search cluster, where the service
    writes them) and the UBI events (which may live in an analytics cluster of their own)."""

    records: SearchEngine
    events: SearchEngine
    events_index: str = UBI_EVENTS


class Guardrail(msgspec.Struct, frozen=True):
    name: str
    champion: float | None
    canary: float | None
    p_value: float | None
    breached: bool
    detail: str


class UnitSums(msgspec.Struct, frozen=True):
    """Per-shopper sums from which a rate's clustered variance follows (n: a shopper's requests, c:
    those clicked, a: those carted): K, the sum of n squared, of c squared, of c times n, and so on."""

    units: int
    requests: int
    """Counted with the units (the variant's `requests` come from another query, a moment apart)."""
    requests_squared: float
    clicked_squared: float
    clicked_by_requests: float
    carted_squared: float
    carted_by_requests: float


class VariantTraffic(msgspec.Struct, frozen=True):
    requests: int
    errors: int
    empty: int
    p95_latency_ms: float | None
    clicked: int
    carted: int
    by_unit: UnitSums | None = None
    """None: per-request tests (no per-shopper counts)."""


class CanaryReport(msgspec.Struct, frozen=True):
    artifact: str
    canary_version: str
    verdict: Verdict
    reasons: list[str]
    champion: VariantTraffic
    canary: VariantTraffic
    guardrails: list[Guardrail]


def worse_p_value(bad_canary: int, n_canary: int, bad_champion: int, n_champion: int) -> float | None:
    """One-sided p-value that the canary's rate of something bad is higher than the champion's
    (pooled two-proportion z-test); None without traffic on both sides."""
    if n_canary == 0 or n_champion == 0:
        return None
    z = pooled_z(bad_champion, n_champion, bad_canary, n_canary)
    if z is None:  # both rates 0 or both 1: no difference
        return 1.0
    return 0.5 * math.erfc(z / math.sqrt(2))


def rate_variance(
    count: int,
    requests: int,
    units: int,
    count_squared: float,
    count_by_requests: float,
    requests_squared: float,
) -> float | None:
    """The variance of count / requests when requests come in clusters (a shopper's): K/(K-1) times
    the sum over clusters of (c - R n) squared, over the requests squared. None below two clusters."""
    if units < 2 or requests == 0:
        return None
    rate = count / requests
    spread = count_squared - 2 * rate * count_by_requests + rate * rate * requests_squared
    return units / (units - 1) * max(spread, 0.0) / requests**2


def drop_p_value(champion: tuple[int, int, float], canary: tuple[int, int, float]) -> float | None:
    """One-sided p-value that the canary's rate is lower than the champion's, each (count,
    requests, variance of the rate); None when the variances are both 0."""
    error = math.sqrt(champion[2] + canary[2])
    if error == 0:
        return None
    z = (champion[0] / champion[1] - canary[0] / canary[1]) / error
    return 0.5 * math.erfc(z / math.sqrt(2))


def _clustered_drop(champion: VariantTraffic, canary: VariantTraffic, carted: bool) -> float | None:
    """The per-shopper test of a drop in CTR (or add-to-cart rate); None without per-shopper sums
    (the per-request test then judges). Fewer than two shoppers on a side is no evidence (p = 1)."""
    variances = []
    for side in (champion, canary):
        sums = side.by_unit
        if sums is None:
            return None
        count = side.carted if carted else side.clicked
        squared = sums.carted_squared if carted else sums.clicked_squared
        by_requests = sums.carted_by_requests if carted else sums.clicked_by_requests
        variance = rate_variance(
            count, sums.requests, sums.units, squared, by_requests, sums.requests_squared
        )
        if variance is None:
            return 1.0
        variances.append((count, sums.requests, variance))
    p = drop_p_value(variances[0], variances[1])
    return 1.0 if p is None else p


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def _rate_guardrail(
    name: str,
    champion: tuple[int, int],
    canary: tuple[int, int],
    *,
    higher_is_worse: bool,
    margin: float,
    alpha: float,
    clustered_p: float | None = None,
) -> Guardrail:
    """`champion`, `canary`: (count, requests) of the thing measured. A higher rate of something
    bad is judged by an absolute margin (points), a lower rate of something good by a margin
    relative to the champion's rate. `clustered_p`: the per-shopper test's p-value, used instead of
    the per-request one when given."""
    rate_champion, rate_canary = _rate(*champion), _rate(*canary)
    if clustered_p is not None:
        p: float | None = clustered_p
    elif higher_is_worse:
        p = worse_p_value(canary[0], canary[1], champion[0], champion[1])
    else:  # the bad outcome is a request without it
        p = worse_p_value(canary[1] - canary[0], canary[1], champion[1] - champion[0], champion[1])
    if p is None or rate_champion is None or rate_canary is None:
        return Guardrail(name, rate_champion, rate_canary, p, False, "no traffic to compare yet")
    if higher_is_worse:
        worse_by, limit = rate_canary - rate_champion, f"+{margin:.1%}"
    else:
        worse_by = (rate_champion - rate_canary) / rate_champion if rate_champion > 0 else 0.0
        limit = f"-{margin:.0%} of it"
    return Guardrail(
        name,
        round(rate_champion, 6),
        round(rate_canary, 6),
        round(p, 6),
        worse_by > margin and p < alpha,
        f"{name} {rate_canary:.2%} vs champion's {rate_champion:.2%} "
        f"(limit {limit}, p={p:.4f}, alpha {alpha})",
    )


def _latency(
    champion: VariantTraffic, canary: VariantTraffic, policy: CanaryPolicy, sampled: bool
) -> Guardrail:
    ours, theirs = canary.p95_latency_ms, champion.p95_latency_ms
    if ours is None or theirs is None or not sampled:
        return Guardrail("p95 latency", theirs, ours, None, False, "judged over the minimum sample")
    limit = max(theirs * policy.max_p95_ratio, theirs + policy.min_p95_increase_ms)
    return Guardrail(
        "p95 latency",
        round(theirs, 3),
        round(ours, 3),
        None,
        ours > limit,
        f"p95 latency {ours:.1f} ms vs champion's {theirs:.1f} ms (limit {limit:.1f} ms)",
    )


def _traffic(
    engine: SearchEngine, artifact: str, version: str
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Per variant: requests, outcomes and p95 latency; and the first record's time."""
    found = engine.search(
        INDEX,
        {
            "size": 0,
            "query": {
                "bool": {"filter": [{"term": {"artifact": artifact}}, {"term": {"canary_version": version}}]}
            },
            "aggs": {
                "first": {"min": {"field": "at"}},
                "variants": {
                    "terms": {"field": "variant", "size": 2},
                    "aggs": {
                        "outcomes": {"terms": {"field": "outcome", "size": 3}},
                        "latency": {"percentiles": {"field": "latency_ms", "percents": [95]}},
                    },
                },
            },
        },
    )
    out: dict[str, dict[str, Any]] = {}
    for bucket in found.aggregations.get("variants", {}).get("buckets", []):
        percentiles = bucket["latency"]["values"]
        p95 = next(iter(percentiles.values()), None) if percentiles else None
        out[bucket["key"]] = {
            "requests": bucket["doc_count"],
            "outcomes": {o["key"]: o["doc_count"] for o in bucket["outcomes"]["buckets"]},
            "p95": p95,
        }
    first = found.aggregations.get("first", {}).get("value_as_string")
    return out, first


def _answered_ids(
    engine: SearchEngine, events_index: str, actions: tuple[str, ...], since: str
) -> Iterator[list[str]]:
    """The query ids of events with these actions since `since`, a page at a time (composite
    aggregation): the clicked requests, far fewer than the requests."""
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {"size": ID_CHUNK, "sources": [{"q": {"terms": {"field": "query_id"}}}]}
        if after:
            composite["after"] = after
        found = engine.search(
            events_index,
            {
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [
                            {"terms": {"action_name": list(actions)}},
                            {"range": {"timestamp": {"gte": since}}},
                        ]
                    }
                },
                "aggs": {"ids": {"composite": composite}},
            },
        )
        page = found.aggregations.get("ids", {})
        ids = [b["key"]["q"] for b in page.get("buckets", [])]
        if ids:
            yield ids
        after = page.get("after_key")
        if not after or len(ids) < ID_CHUNK:
            return


UnitCounts = dict[tuple[str, str | None], int]
"""(variant, unit) -> requests; unit None for records written before records named their unit."""


def _per_unit(engine: SearchEngine, artifact: str, version: str, request_ids: list[str] | None) -> UnitCounts:
    """Requests per variant and shopper (of `request_ids` only, when given), a page at a time."""
    filters: list[dict[str, Any]] = [{"term": {"artifact": artifact}}, {"term": {"canary_version": version}}]
    if request_ids is not None:
        filters.append({"terms": {"request_id": request_ids}})
    counts: UnitCounts = {}
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {
            "size": ID_CHUNK,
            "sources": [
                {"variant": {"terms": {"field": "variant"}}},
                {"unit": {"terms": {"field": "unit", "missing_bucket": True}}},
            ],
        }
        if after:
            composite["after"] = after
        found = engine.search(
            INDEX,
            {"size": 0, "query": {"bool": {"filter": filters}}, "aggs": {"units": {"composite": composite}}},
        )
        page = found.aggregations.get("units", {})
        buckets = page.get("buckets", [])
        for bucket in buckets:
            key = (bucket["key"]["variant"], bucket["key"]["unit"])
            counts[key] = counts.get(key, 0) + bucket["doc_count"]
        after = page.get("after_key")
        if not after or len(buckets) < ID_CHUNK:
            return counts


def _credited(
    sources: CanarySources, actions: tuple[str, ...], artifact: str, version: str, since: str
) -> UnitCounts:
    """Per variant and shopper: how many of the recorded requests led to at least one of these events."""
    counts: UnitCounts = {}
    if not sources.events.index_exists(sources.events_index):
        return counts
    for ids in _answered_ids(sources.events, sources.events_index, actions, since):
        for key, n in _per_unit(sources.records, artifact, version, ids).items():
            counts[key] = counts.get(key, 0) + n
    return counts


def unit_sums(requests: UnitCounts, clicked: UnitCounts, carted: UnitCounts, variant: str) -> UnitSums:
    """A record without a unit (written before records named one) is a shopper of its own."""
    units = total = 0
    n_sq = c_sq = c_n = a_sq = a_n = 0.0
    for (name, unit), n in requests.items():
        if name != variant:
            continue
        c, a = clicked.get((name, unit), 0), carted.get((name, unit), 0)
        total += n
        if unit is None:  # n requests of one each: c of them clicked, a carted
            units += n
            n_sq, c_sq, c_n, a_sq, a_n = n_sq + n, c_sq + c, c_n + c, a_sq + a, a_n + a
        else:
            units += 1
            n_sq, c_sq, c_n, a_sq, a_n = n_sq + n * n, c_sq + c * c, c_n + c * n, a_sq + a * a, a_n + a * n
    return UnitSums(units, total, n_sq, c_sq, c_n, a_sq, a_n)


def guardrails(
    champion: VariantTraffic, canary: VariantTraffic, policy: CanaryPolicy, sampled: bool
) -> list[Guardrail]:
    """`sampled`: both variants have the minimum sample (the stricter early alpha applies until then)."""
    alpha = policy.alpha if sampled else policy.early_alpha
    rates = [
        ("error rate", champion.errors, canary.errors, True, policy.max_error_rate_increase, None),
        ("zero-result rate", champion.empty, canary.empty, True, policy.max_zero_result_increase, None),
        (
            "CTR",
            champion.clicked,
            canary.clicked,
            False,
            policy.max_ctr_drop,
            _clustered_drop(champion, canary, False),
        ),
        (
            "add-to-cart rate",
            champion.carted,
            canary.carted,
            False,
            policy.max_add_to_cart_drop,
            _clustered_drop(champion, canary, True),
        ),
    ]
    judged = [
        _rate_guardrail(
            name,
            (ours, champion.requests),
            (theirs, canary.requests),
            higher_is_worse=worse_up,
            margin=margin,
            alpha=alpha,
            clustered_p=clustered,
        )
        for name, ours, theirs, worse_up, margin, clustered in rates
    ]
    return [*judged[:2], _latency(champion, canary, policy, sampled), *judged[2:]]


def evaluate(sources: CanarySources, artifact: str, version: str, policy: CanaryPolicy) -> CanaryReport:
    records = sources.records
    if records.index_exists(INDEX):
        records.refresh(INDEX)
        traffic, first = _traffic(records, artifact, version)
    else:
        traffic, first = {}, None
    clicked = _credited(sources, CLICK_ACTIONS, artifact, version, first) if first else {}
    carted = _credited(sources, CART_ACTIONS, artifact, version, first) if first else {}
    # After the credited requests: records only arrive, so no shopper has more clicked than asked.
    requests = _per_unit(records, artifact, version, None) if first else {}

    def variant(name: str) -> VariantTraffic:
        seen = traffic.get(name, {"requests": 0, "outcomes": {}, "p95": None})
        return VariantTraffic(
            requests=seen["requests"],
            errors=seen["outcomes"].get(ERROR, 0),
            empty=seen["outcomes"].get(EMPTY, 0),
            p95_latency_ms=seen["p95"],
            clicked=sum(n for (v, _), n in clicked.items() if v == name),
            carted=sum(n for (v, _), n in carted.items() if v == name),
            by_unit=unit_sums(requests, clicked, carted, name),
        )

    champion, canary = variant(CHAMPION), variant(CANARY)
    sampled = min(champion.requests, canary.requests) >= policy.min_requests
    rails = guardrails(champion, canary, policy, sampled)
    breached = [g.detail for g in rails if g.breached]
    sample = (
        f"{canary.requests} canary and {champion.requests} champion requests "
        f"(need {policy.min_requests} each)"
    )
    verdict: Verdict
    if breached:
        verdict, reasons = "breached", [f"guardrail breached: {d}" for d in breached] + [sample]
    elif sampled:
        verdict, reasons = "passed", [sample, *(g.detail for g in rails)]
    else:
        verdict, reasons = "watching", [sample]
    return CanaryReport(artifact, version, verdict, reasons, champion, canary, rails)

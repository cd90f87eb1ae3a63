"""`make synonyms-check` and `make synonyms-apply`: validate, rebuild with zero downtime, preview impact.

OpenSearch (open source) has no search-analyzer reload API, so an edit goes live as a new index
version filled by `_reindex` from the live one, then an atomic alias swap (see versions.py).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from pipelines.indexing.versions import BuildResult, live_synonyms, rebuild_with_synonyms, swap_and_prune
from pipelines.synonyms.rules import (
    SynonymIssue,
    SynonymRule,
    load_rules,
    normalize_term,
    opensearch_rules,
    unmatched_term_warnings,
)
from quarry.adapters.search_engine import SearchEngine, SearchEngineError
from quarry.settings import Settings
from quarry.ubi import UBI_QUERIES

PREVIEW_FIELDS = ["title^3", "brand.text^2", "category_path.text^1.5", "attributes_text", "description"]


class QueryImpact(msgspec.Struct):
    query: str
    hits_before: int
    hits_after: int
    overlap_at_10: int
    entered_top_10: list[str]
    left_top_10: list[str]


class ApplyReport(msgspec.Struct):
    changed_terms: list[str]
    build: BuildResult | None
    impact: list[QueryImpact]
    applied: bool = False
    """The alias moved to the new version (not a dry run, and the gate, if any, passed)."""
    gate: list[str] = msgspec.field(default_factory=list)
    """The gate's reasons, when one judged the new version."""


# index -> (passed, reasons): judges a built index version before the alias moves to it.
IndexGate = Callable[[str], tuple[bool, list[str]]]


def keyword_query(text: str, analyzer: str | None = None, size: int = 10) -> dict[str, object]:
    """The BM25 query used by synonym previews and checks (the search API has its own, richer one)."""
    match: dict[str, object] = {"query": text, "fields": PREVIEW_FIELDS, "type": "best_fields"}
    if analyzer:
        match["analyzer"] = analyzer
    return {"size": size, "_source": False, "query": {"multi_match": match}}


class CatalogCounter:
    """Counts catalog documents containing a term as written (the index-time analyzer, no synonyms)."""

    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self.engine = engine
        self.alias = alias

    def __call__(self, term: str) -> int:
        query = {
            "multi_match": {
                "query": term,
                "type": "phrase",
                "analyzer": "english_index",
                "fields": [f.split("^")[0] for f in PREVIEW_FIELDS],
            }
        }
        return self.engine.count(self.alias, query)


def check(
    settings: Settings, engine: SearchEngine | None, alias: str
) -> tuple[list[SynonymRule], list[SynonymIssue]]:
    rules, issues = load_rules(settings.synonyms_dir)
    if engine is not None:
        try:
            if engine.alias_targets(alias):
                issues += unmatched_term_warnings(rules, CatalogCounter(engine, alias))
        except SearchEngineError as exc:
            issues.append(SynonymIssue(settings.synonyms_dir, 0, "warning", f"catalog check skipped: {exc}"))
    return rules, issues


def changed_terms(old_rules: list[str], new_rules: list[str]) -> list[str]:
    old, new = set(old_rules), set(new_rules)
    terms: set[str] = set()
    for rule in old ^ new:
        for side in rule.split("=>"):
            terms.update(normalize_term(t) for t in side.split(",") if t.strip())
    return sorted(terms)


def sample_queries(engine: SearchEngine, terms: list[str], per_term: int = 3) -> list[str]:
    """The edited terms themselves plus logged queries (UBI) that contain them."""
    queries: list[str] = []
    for term in terms:
        queries.append(term)
        try:
            logged = engine.search(
                UBI_QUERIES,
                {
                    "size": 0,
                    "query": {"match_phrase": {"user_query.text": term}},
                    "aggs": {"q": {"terms": {"field": "normalized_query", "size": per_term}}},
                },
            )
        except SearchEngineError:
            continue
        buckets = logged.aggregations.get("q", {}).get("buckets", [])
        queries.extend(b["key"] for b in buckets if b["key"] != term)
    return list(dict.fromkeys(queries))


def impact(
    engine: SearchEngine, before_index: str, after_index: str, queries: list[str]
) -> list[QueryImpact]:
    out = []
    for query in queries:
        before = engine.search(before_index, keyword_query(query))
        after = engine.search(after_index, keyword_query(query))
        top_before = [h.id for h in before.hits]
        top_after = [h.id for h in after.hits]
        out.append(
            QueryImpact(
                query=query,
                hits_before=before.total,
                hits_after=after.total,
                overlap_at_10=len(set(top_before) & set(top_after)),
                entered_top_10=[d for d in top_after if d not in top_before],
                left_top_10=[d for d in top_before if d not in top_after],
            )
        )
    return out


def apply(
    settings: Settings,
    engine: SearchEngine,
    alias: str,
    dry_run: bool = False,
    ubi_engine: SearchEngine | None = None,
    gate: IndexGate | None = None,
) -> ApplyReport:
    """`ubi_engine`: the cluster holding `ubi_queries` (the impact preview's sample queries) when it is
    not the search cluster. `gate`: judges the new version before the alias moves (the registry's
    golden gate); a refused version is deleted and the live one keeps serving."""
    rules, issues = load_rules(settings.synonyms_dir)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ValueError("synonym files have errors:\n" + "\n".join(str(e) for e in errors))
    new_rules = opensearch_rules(rules)
    live = engine.alias_targets(alias)
    if len(live) != 1:
        raise SearchEngineError(f"alias {alias} points at {live}; build the index first (make up)")
    terms = changed_terms(live_synonyms(engine, live[0]), new_rules)
    if not terms:
        return ApplyReport(changed_terms=[], build=None, impact=[])
    build = rebuild_with_synonyms(engine, settings, alias, new_rules, swap=False)
    applied, reasons = False, list[str]()
    try:
        report = impact(engine, live[0], build.index, sample_queries(ubi_engine or engine, terms))
        if not dry_run:
            applied, reasons = gate(build.index) if gate is not None else (True, [])
        if applied:
            previous, deleted = swap_and_prune(engine, alias, build.index)
            build = msgspec.structs.replace(build, previous=previous, deleted=deleted)
    finally:
        if not applied:
            engine.delete_index(build.index)
    return ApplyReport(changed_terms=terms, build=build, impact=report, applied=applied, gate=reasons)


def impact_table(report: ApplyReport) -> str:
    rows = [
        "| query | hits before | hits after | top-10 overlap | entered top 10 | left top 10 |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in report.impact:
        rows.append(
            f"| {row.query} | {row.hits_before} | {row.hits_after} | {row.overlap_at_10}/10 | "
            f"{' '.join(row.entered_top_10[:5]) or '-'} | {' '.join(row.left_top_10[:5]) or '-'} |"
        )
    return "\n".join(rows)

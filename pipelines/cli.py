"""`python -m pipelines <command>`: the entry point the Makefile (and later the DAGs) call.

Results go to stdout as one JSON object; progress bars and JSON logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from pipelines import evaluation, golden, jobs
from pipelines.bench.report import REPORTS, environment, write_report
from pipelines.catalog.generator import generate_catalog
from pipelines.catalog.importer import FORMATS, Rejection, RowError, detect_format, read_catalog
from pipelines.catalog.schema import Product
from pipelines.indexing.versions import build_from_documents, rollback
from pipelines.keys_cli import add_keys_parser
from pipelines.pipeline_search import pipeline_search
from pipelines.registry.cli import add_models_parser
from pipelines.synonyms.rules import load_rules, opensearch_rules
from quarry import connections
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.adapters.search_engine import OpenSearchEngine, SearchEngineError
from quarry.logs import configure_logging
from quarry.settings import PROJECT_ROOT, Settings, get_settings
from quarry.ubi import (
    ensure_ubi_indices,
    fill_event_user_queries,
)

if TYPE_CHECKING:
    from pipelines.recommend.traffic import RecommendationShoppers

log = logging.getLogger("pipelines")


class StrictImportError(RuntimeError):
    """--strict: the first bad row stops the import before the alias moves."""


def _engine(settings: Settings) -> OpenSearchEngine:
    return connections.search_engine(settings)


def _ubi_engine(settings: Settings) -> OpenSearchEngine:
    """The cluster holding the UBI query and event logs (QUARRY_UBI_OPENSEARCH_URL, else the search one)."""
    return connections.ubi_engine(settings)


def _emit(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def _live_rules(settings: Settings) -> list[str]:
    rules, issues = load_rules(settings.synonyms_dir)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ValueError(
            "synonym files have errors (run make synonyms-check):\n" + "\n".join(map(str, errors))
        )
    return opensearch_rules(rules)


def cmd_index_demo(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    ensure_ubi_indices(_ubi_engine(settings), settings.mappings_dir)
    if args.if_empty and engine.alias_targets(args.alias) and engine.count(args.alias) > 0:
        print(
            f"{args.alias} already holds {engine.count(args.alias)} products; not rebuilding", file=sys.stderr
        )
        return 0
    products = generate_catalog(args.size, args.seed)
    result = build_from_documents(
        engine,
        settings,
        args.alias,
        ((p.product_id, p.to_document()) for p in products),
        _live_rules(settings),
        total=args.size,
    )
    print(
        f"indexed {result.indexed} products into {result.index} at {result.docs_per_second:,.0f} docs/s",
        file=sys.stderr,
    )
    _emit(result)
    return 1 if result.failures else 0


def cmd_catalog_generate(args: argparse.Namespace, settings: Settings) -> int:
    with open(args.out, "wb") as handle:
        for product in generate_catalog(args.size, args.seed):
            handle.write(msgspec.json.encode(product) + b"\n")
    print(f"wrote {args.size} products to {args.out}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path)
    fmt = args.format or detect_format(path)
    rejections: list[Rejection] = []
    rows: dict[str, int] = {}
    read = 0

    def documents() -> Iterator[tuple[str, dict[str, Any]]]:
        nonlocal read
        for item in read_catalog(path, fmt):
            read += 1
            if isinstance(item, Product):
                rows[item.product_id] = read
                yield item.product_id, item.to_document()
                continue
            rejections.append(item)
            if args.strict:
                raise StrictImportError(f"row {item.row}: {item.reason}")

    engine = _engine(settings)
    try:
        result = build_from_documents(engine, settings, args.alias, documents(), _live_rules(settings))
    except StrictImportError as exc:
        print(f"import stopped (--strict): {exc}; {args.alias} unchanged", file=sys.stderr)
        return 2
    rejections += [
        Rejection(row=rows.get(f.doc_id, 0), product_id=f.doc_id, reason=f"OpenSearch: {f.reason}")
        for f in result.failures
    ]
    report_path = _write_rejections(settings, rejections)
    ratio = len(rejections) / read if read else 0.0
    for rejection in rejections[:20]:
        print(f"row {rejection.row} ({rejection.product_id or '?'}): {rejection.reason}", file=sys.stderr)
    print(
        f"read {read} rows, indexed {result.indexed}, rejected {len(rejections)} ({ratio:.2%})"
        + (f"; all rejections in {report_path}" if report_path else ""),
        file=sys.stderr,
    )
    _emit(
        {
            "read": read,
            "indexed": result.indexed,
            "rejected": len(rejections),
            "reject_ratio": ratio,
            "index": result.index,
            "rejections_file": str(report_path) if report_path else None,
        }
    )
    return 1 if ratio > settings.import_max_reject_ratio else 0


def _write_rejections(settings: Settings, rejections: list[Rejection]) -> Path | None:
    if not rejections:
        return None
    folder = settings.var_path / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"import-rejections-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in rejections))
    return path


def cmd_vocabulary(args: argparse.Namespace, settings: Settings) -> int:
    result = jobs.vocabulary(settings, args.alias, if_missing=args.if_missing)
    state = "is current; not rebuilding"
    if result["rebuilt"]:
        state = "champion" if result["promoted"] else "candidate only, refused by the golden gate"
        state += f" ({'; '.join(result['gate'])})"
    print(f"{result['artifact']} {result['version']} {state}", file=sys.stderr)
    if result["rebuilt"]:
        _emit(result)
    return 0


def cmd_catalog_priors(args: argparse.Namespace, settings: Settings) -> int:
    result = jobs.catalog_priors(settings, args.alias, if_missing=args.if_missing)
    state = "published" if result["rebuilt"] else "is current; not rebuilding"
    print(f"{result['artifact']} {result['version']} {state}", file=sys.stderr)
    _emit(result)
    return 0


def cmd_data_quality(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.quality.runner import DataQualityError

    try:
        _emit(jobs.data_quality(settings, args.suite, events_index=args.events_index))
    except DataQualityError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def cmd_embeddings(args: argparse.Namespace, settings: Settings) -> int:
    result = jobs.embeddings(settings, args.alias, full=args.full, if_missing=args.if_missing)
    if result.get("rebuilt") is False:
        print(
            f"{result['artifact']} {result['version']} matches {args.alias}; not rebuilding", file=sys.stderr
        )
    elif "encoded" in result or "index" in result:
        if result.get("promoted") is False:
            print(f"new vectors refused by the golden gate: {'; '.join(result['gate'])}", file=sys.stderr)
        _emit(result)
    return 0


def _recommendation_shoppers(
    settings: Settings, seed: int, alias: str, visits_seed: int
) -> RecommendationShoppers | None:
    """`make simulate`'s shoppers (run `seed`) as they open recommendations; None (said why) when
    that run's tastes are missing."""
    from pipelines.recommend import traffic

    users_file = settings.var_path / "simulator" / f"users-{seed}.json"
    if not users_file.exists():
        print(f"{users_file} is missing: run make simulate first (its shoppers' tastes)", file=sys.stderr)
        return None
    return traffic.RecommendationShoppers(
        traffic.load_users(users_file), traffic.catalog_of(_engine(settings), alias), visits_seed
    )


def cmd_experiment_validation(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines import experiment_validation
    from pipelines.api_access import api_client, tool_token
    from pipelines.bench.report import REPORTS
    from pipelines.recommend import traffic
    from quarry.api_keys import Scope

    shoppers = _recommendation_shoppers(settings, args.seed, settings.products_alias, args.seed)
    if shoppers is None:
        return 2
    scopes: tuple[Scope, ...] = ("recommend", "events", "server")

    def drive(base: str) -> int:
        with (
            tool_token(settings, "make experiment-validation", scopes) as token,
            api_client(settings, token, base) as client,
        ):
            traffic.drive(shoppers, client, args.visits)
        return shoppers.outcome.visits

    run = uuid.uuid4().hex[:8]
    folder = settings.var_path / "experiment-validation" / run
    result = experiment_validation.validate(settings, _ubi_engine(settings), folder, drive, run)
    path = experiment_validation.write(result, REPORTS)
    log.info(
        "experiments validated",
        extra={
            "run": run,
            "aa_false_positives": result.aa_false_positives,
            "aa_tests": len(result.aa_tests),
            "sessions_needed": {k.design: k.sessions_needed for k in result.known_better},
        },
    )
    print(f"wrote {path.relative_to(REPORTS.parent)}", file=sys.stderr)
    return 0


def cmd_experiment_report(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.bench.report import REPORTS
    from pipelines.experiment_report import run
    from quarry.experiments.live import load_checked
    from quarry.experiments.readout import catalog_prices
    from quarry.experiments.store import ExperimentStore, experiments_index

    files = load_checked(settings.experiments_dir)
    taken = {e.name for e in files}
    store = ExperimentStore(_engine(settings), experiments_index(settings.security_indices_prefix))
    defined = [v.definition for v in store.current() if v.definition is not None and v.name not in taken]
    experiments = files + defined
    prices = catalog_prices(_engine(settings), settings.products_alias)
    try:
        result = run(_ubi_engine(settings), experiments, args.name, REPORTS, prices)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    print(f"wrote reports/experiments/{args.name}.md (readable: {result.readable})", file=sys.stderr)
    return 0


def cmd_golden(args: argparse.Namespace, settings: Settings) -> int:
    judgments = golden.build_judgments(
        _engine(settings), args.alias, settings.catalog_size, settings.catalog_seed
    )
    golden.write_judgments(judgments)
    queries = len({j.query for j in judgments})
    print(
        f"wrote {len(judgments)} judgments for {queries} queries to {golden.JUDGMENTS_FILE}",
        file=sys.stderr,
    )
    return 0


# Retrieval variants `make eval` compares with the live configuration's ("pipeline").
RETRIEVAL_VARIANTS: dict[str, dict[str, Any]] = {
    "keyword_only": {"retrieval": "keyword"},
    "semantic_only": {"retrieval": "semantic", "keyword_weight": 0.0, "keyword_weight_with_entities": 0.0},
    "hybrid_max": {"retrieval": "hybrid", "fusion": "max"},
    "hybrid_rrf": {"retrieval": "hybrid", "fusion": "rrf"},
    **{
        f"hybrid_weighted_{weight}": {
            "retrieval": "hybrid",
            "fusion": "weighted",
            "keyword_weight": weight,
            "keyword_weight_with_entities": weight,
        }
        for weight in (0.1, 0.2, 0.3, 0.5)
    },
}


def cmd_security_audit(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.security_audit import run

    return run(settings, Path(args.out))


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from quarry.search.ranking import load_config_file

    local = msgspec.structs.replace(settings, products_alias=args.alias)
    engine = _engine(settings)
    base = load_config_file(settings.ranking_config)
    with contextlib.ExitStack() as stack:
        pipeline = stack.enter_context(pipeline_search(local))
        systems: dict[str, evaluation.SearchFunction] = {
            "raw_bm25": evaluation.raw_bm25(engine, args.alias),
            "pipeline": pipeline(None),
        }
        if not args.no_variants:
            # The query encoder's effect on relevance (docs/semantic-search.md#query-encoding-speed).
            for encoder in ("torch", "onnx-fp32", "onnx-int8"):
                if encoder != local.query_encoder:
                    variant_settings = msgspec.structs.replace(local, query_encoder=encoder)
                    systems[f"pipeline_{encoder}_queries"] = stack.enter_context(
                        pipeline_search(variant_settings)
                    )(None)
            for name, overrides in RETRIEVAL_VARIANTS.items():
                # Its own version: result-cache keys include it, so variants never share pages.
                variant = msgspec.structs.replace(base, version=f"{base.version}+{name}", **overrides)
                systems[name] = pipeline(variant)
        report = evaluation.evaluate(systems, environment())
    table = evaluation.markdown(report)
    if not args.no_write:
        write_report(args.report, report, table)
    print(table)
    return 0


def cmd_events_retention(args: argparse.Namespace, settings: Settings) -> int:
    result = jobs.retention(settings)
    print(
        f"dropped {len(result['dropped'])} daily event indices older than {result['retention_days']} days "
        f"and {result['queries_deleted']} logged searches older than "
        f"{result['query_log_retention_days']} days",
        file=sys.stderr,
    )
    _emit(result)
    return 0


def cmd_privacy_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.privacy_migrate import migrate
    from quarry.privacy_registry import offline_privacy

    privacy, _ = offline_privacy(settings, _engine(settings))
    reports = migrate(_ubi_engine(settings), privacy.pseudonyms)
    failures = sum(r.failures for r in reports)
    for report in reports:
        print(
            f"{report.index}: {report.rewritten} of {report.found} records with raw ids pseudonymized"
            + (f", {report.failures} failed" if report.failures else ""),
            file=sys.stderr,
        )
    _emit([msgspec.to_builtins(r) for r in reports])
    return 1 if failures else 0


def cmd_ubi_migrate(args: argparse.Namespace, settings: Settings) -> int:
    created = ensure_ubi_indices(_ubi_engine(settings), settings.mappings_dir, migrate=True)
    _emit({"created": created})
    return 0


def cmd_events_replay(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from pipelines import events_replay
    from quarry.events.service import EventService
    from quarry.privacy_registry import offline_privacy
    from quarry.query_texts import LoggedQueries
    from quarry.ubi import UbiLayout

    engine = _ubi_engine(settings)
    privacy, _ = offline_privacy(settings, _engine(settings))
    service = EventService(
        engine,
        None,  # a replay takes events of any age
        settings.events_extra_actions,
        layout=UbiLayout(engine, settings.mappings_dir),
        logged_queries=LoggedQueries(engine),
        privacy=privacy,
    )
    with tqdm(desc="events", unit="event", file=sys.stderr) as bar:
        report = events_replay.replay(
            service, events_replay.read_events(Path(args.file)), progress=bar.update
        )
    print(
        f"replayed {report.read} events: {report.stored} stored, {report.duplicates} duplicates, "
        f"{len(report.rejected)} rejected",
        file=sys.stderr,
    )
    _emit(report)
    return 1 if report.rejected else 0


def cmd_judgments_coec(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.coec import coec_judgments, read_coec_events

    start = dt.date.fromisoformat(args.start) if args.start else None
    end = dt.date.fromisoformat(args.end) if args.end else None
    result = coec_judgments(read_coec_events(_ubi_engine(settings), args.max_rank, start, end), args.max_rank)
    out = Path(args.out) if args.out else settings.var_path / "judgments" / f"coec-{dt.date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(msgspec.json.format(msgspec.json.encode(result.judgments)))
    print(f"{len(result.judgments)} queries judged ({result.summary.pairs} pairs) -> {out}", file=sys.stderr)
    _emit({"judgments": str(out), "summary": result.summary, "rank_ctr": result.rank_ctr})
    return 0 if result.judgments else 1


def cmd_ltr_replay(args: argparse.Namespace, settings: Settings) -> int:
    summary = jobs.ltr_replay(settings, args.days, args.limit)
    print(
        f"{summary['replayed']} of {summary['searches']} searches replayed ({summary['already_logged']} "
        f"logged already, {summary['failed']} failed): {summary['records']} feature records",
        file=sys.stderr,
    )
    _emit(summary)
    return 0 if summary["failed"] == 0 else 1


def cmd_train_ltr(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.ltr.job import train_ltr

    _emit(train_ltr(settings, register=not args.no_register))
    return 0


def cmd_eval_ltr(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.ltr.pipeline_eval import run

    summary = run(settings)
    _emit({"goals": summary["goals"], "report": "reports/ltr.md"})
    return 0


def cmd_ltr_export(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.ltr.export import export
    from pipelines.registry.cli import registry_of
    from quarry.ltr.featureset import load_featureset
    from quarry.ltr.ranker import ARTIFACT

    registry = registry_of(settings)
    aliases = registry.aliases(ARTIFACT)
    version = args.version or aliases.get("champion") or aliases.get("candidate")
    if version is None:
        print("no LTR model is registered: run make train-ltr first", file=sys.stderr)
        return 1
    meta = registry.store.metadata(ARTIFACT, version)
    trees = msgspec.json.decode(registry.store.read(ARTIFACT, version, "trees.json"))
    out = Path(args.out) if args.out else settings.var_path / "ltr-export"
    written = export(load_featureset(meta["featureset"]), trees, f"quarry_ltr_{version}", out)
    print(f"LTR model {version} and feature set {meta['featureset']} exported to {out}", file=sys.stderr)
    _emit({"version": version, "files": [str(p) for p in written]})
    return 0


def cmd_events_fill_queries(args: argparse.Namespace, settings: Settings) -> int:
    engine = _ubi_engine(settings)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=args.days)
    filled, unknown = fill_event_user_queries(engine, since)
    print(
        f"{filled} events got their search's user_query; {unknown} name a search not logged", file=sys.stderr
    )
    _emit({"filled": filled, "unknown": unknown, "since": since.isoformat()})
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from pipelines import simulator

    engine = _engine(settings)
    brands = engine.search(
        args.alias,
        {
            "size": 0,
            "aggs": {
                "d": {
                    "terms": {"field": "category_lvl1", "size": 50},
                    "aggs": {"b": {"terms": {"field": "brand", "size": 50}}},
                }
            },
        },
    )
    brands_by_department = {
        d["key"]: [b["key"] for b in d["b"]["buckets"]] for d in brands.aggregations["d"]["buckets"]
    }
    sim = simulator.Simulator(
        args.seed, args.users, args.days, args.events_per_day, brands_by_department, dt.datetime.now(dt.UTC)
    )
    base = args.api or settings.api_base_url
    folder = settings.var_path / "simulator"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"users-{args.seed}.json").write_bytes(msgspec.json.encode(sim.users))
    counts: dict[str, int] = {}
    accepted = duplicates = 0
    from pipelines.api_access import api_client, tool_token

    with (
        tool_token(settings, "make simulate", ("search", "events", "server")) as token,
        api_client(settings, token, base) as client,
    ):

        def search(shopper: simulator.ShopperSearch) -> tuple[str, list[simulator.SearchHit]]:
            body = (
                client.get(
                    "/v1/search",
                    params={
                        "q": shopper.query,
                        "user_id": shopper.user_id,
                        "session_id": shopper.session_id,
                        "client_id": shopper.client_id,
                        "query_id": shopper.query_id,
                        "application": simulator.APPLICATION,
                        "size": 10,
                    },
                )
                .raise_for_status()
                .json()
            )
            hits = [simulator.SearchHit.from_result(r) for r in body["results"]]
            return body["query_id"], hits

        pending: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal accepted, duplicates
            for start in range(0, len(pending), 500):
                result = client.post("/v1/events", json={"events": pending[start : start + 500]})
                result.raise_for_status()
                accepted += result.json()["accepted"]
                duplicates += result.json()["duplicates"]
            pending.clear()

        with tqdm(
            total=args.days * args.events_per_day, desc="simulating", unit="event", disable=None
        ) as bar:
            for events in sim.run(search):
                pending.extend(events)
                for event in events:
                    counts[event["action_name"]] = counts.get(event["action_name"], 0) + 1
                bar.update(len(events))
                if len(pending) >= 500:
                    flush()
            flush()
    summary = {
        "seed": args.seed,
        "users": args.users,
        "days": args.days,
        "events": counts,
        "accepted": accepted,
        "duplicates": duplicates,
        "preferences_file": str(folder / f"users-{args.seed}.json"),
    }
    log.info("simulation finished", extra=summary)
    _emit(summary)
    return 0


def cmd_simulate_recommendations(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.api_access import api_client, tool_token
    from pipelines.recommend import traffic
    from quarry.api_keys import Scope

    visits_seed = args.seed if args.visit_seed is None else args.visit_seed
    shoppers = _recommendation_shoppers(settings, args.seed, args.alias, visits_seed)
    if shoppers is None:
        return 2
    scopes: tuple[Scope, ...] = ("recommend", "events", "server")
    with (
        tool_token(settings, "make simulate-recommendations", scopes) as token,
        api_client(settings, token, args.api) as client,
    ):
        traffic.drive(shoppers, client, args.visits)
    outcome = shoppers.outcome
    print(traffic.markdown(outcome), file=sys.stderr)
    log.info("simulated recommendation traffic", extra=msgspec.to_builtins(outcome))
    _emit(outcome)
    return 0


def cmd_popularity(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.features import EVERY_PART

    _emit(jobs.features(settings, EVERY_PART, args.alias, args.window_days, args.half_life_days))
    return 0


def cmd_train_als(args: argparse.Namespace, settings: Settings) -> int:
    result = jobs.train_als(settings, args.window_days, _als_params(args), args.alias)
    state = {
        "champion": "champion (the first version)",
        "shadow": "shadow: the registry's watch takes it on to canary and champion with live evidence",
    }.get(result["promoted_to"] or "", "candidate only, refused by the gate")
    print(f"als {result['version']}: {state} ({'; '.join(result['gate'])})", file=sys.stderr)
    _emit(result)
    return 0


def _als_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "factors": args.factors,
        "regularization": args.regularization,
        "iterations": args.iterations,
        "alpha": args.alpha,
    }


def cmd_eval_recommend(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.recommend import train as rec
    from quarry.privacy_registry import offline_privacy
    from quarry.recommenders import ALSRecommender, PopularityRecommender

    engine = _engine(settings)
    privacy, registry = offline_privacy(settings, engine)
    rows = rec.load_interactions(
        _ubi_engine(settings), args.window_days, dt.datetime.now(dt.UTC), registry.training_exclusions()
    )
    train_rows, targets = rec.time_split(rows)
    data = rec.to_matrix(train_rows)
    popularity = PopularityRecommender()
    popularity.fit(data)
    als = ALSRecommender(**_als_params(args))
    started = time.perf_counter()
    als.fit(data)
    training_seconds = time.perf_counter() - started
    results = {
        "popularity": rec.evaluate_model(popularity, data, targets),
        "als": rec.evaluate_model(als, data, targets),
    }
    departments = {h.source["product_id"]: h.source.get("category_lvl1", "") for h in engine.scan(args.alias)}
    recovery = rec.taste_recovery(
        als,
        settings.var_path / "simulator" / f"users-{args.seed}.json",
        departments,
        privacy.pseudonyms.user,
    )
    gain = (
        results["als"].ndcg_at_10 / results["popularity"].ndcg_at_10 - 1
        if results["popularity"].ndcg_at_10
        else None
    )
    env = environment()
    report = {
        "environment": env,
        "interactions": len(rows),
        "train_interactions": len(train_rows),
        "test_users": len(targets),
        "parameters": _als_params(args),
        "training_seconds": round(training_seconds, 3),
        "results": results,
        "als_ndcg_gain_over_popularity": gain,
        "taste_recovery": recovery,
    }
    REPORTS.mkdir(exist_ok=True)
    rec.plot(results, REPORTS / "eval-recommend.png")
    lines = [
        f"# eval-recommend ({env['commit']}, {env['measured_at']})",
        "",
        f"{len(rows):,} interactions from ubi_events (simulated shoppers, `make simulate`); "
        "time split: the first "
        f"{int(rec.TRAIN_SHARE * 100)}% train ({len(train_rows):,}), later clicks/carts/purchases of "
        f"{len(targets):,} known users on new items are the targets. ALS {_als_params(args)}, trained in "
        f"{training_seconds:.1f} s.",
        "",
        "| model | precision@10 | recall@10 | NDCG@10 | coverage |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {name} | {s.precision_at_10:.4f} | {s.recall_at_10:.4f} | {s.ndcg_at_10:.4f} | "
            f"{s.coverage:.4f} |"
            for name, s in results.items()
        ],
        "",
        f"ALS NDCG@10 is {gain:+.0%} against popularity."
        if gain is not None
        else "No popularity NDCG to compare.",
        f"Taste recovery (users whose ALS top 10 is mostly from a latent favourite department): {recovery}.",
        "",
        "![ALS vs popularity](eval-recommend.png)",
    ]
    write_report("eval-recommend", msgspec.to_builtins(report), "\n".join(lines))
    print("\n".join(lines))
    return 0


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    before, after = rollback(_engine(settings), args.alias)
    print(f"{args.alias}: {before} -> {after}", file=sys.stderr)
    _emit({"alias": args.alias, "from": before, "to": after})
    return 0


def cmd_synonyms_check(args: argparse.Namespace, settings: Settings) -> int:
    rules, errors, warnings = jobs.synonyms_check(settings, args.alias, offline=args.offline)
    for issue in errors + warnings:
        print(issue, file=sys.stderr)
    print(f"{rules} rules, {len(errors)} errors, {len(warnings)} warnings", file=sys.stderr)
    return 1 if errors else 0


def cmd_synonyms_suggest(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.indexing.versions import rebuild_with_synonyms
    from pipelines.synonyms import suggest
    from quarry.onnx_encoder import load_query_encoder
    from quarry.text import normalize, tokens
    from quarry.ubi import clicked_queries, successful_queries
    from quarry.understanding.services import UnderstandingModel
    from quarry.vocabulary import ARTIFACT, BIGRAMS_FILE, decode_bigrams

    engine, ubi = _engine(settings), _ubi_engine(settings)
    rules, _ = load_rules(settings.synonyms_dir)
    candidates = suggest.behaviour_pairs(suggest.engaged_products(ubi), clicked_queries(ubi, 20_000))
    store = LocalArtifactStore(settings.artifacts_dir)
    version = store.current(ARTIFACT)
    if version is not None:
        titles = {w for pair in decode_bigrams(store.read(ARTIFACT, version, BIGRAMS_FILE)) for w in pair}
        shopper = {w for query in successful_queries(ubi, 5000) for w in tokens(normalize(query))}
        encoder = load_query_encoder(settings, store)
        lexicon = UnderstandingModel.load(store, version).speller.lexicon
        candidates += suggest.meaning_pairs(
            shopper, titles, lambda words: np.asarray(encoder.encode(words)), lexicon.is_known
        )
    pairs = suggest.new_pairs(candidates, rules)
    previews: dict[str, str] = {}
    if pairs and not args.no_preview:
        extra = [f"{c.first}, {c.second}" for c in pairs]
        build = rebuild_with_synonyms(
            engine, settings, args.alias, [*_live_rules(settings), *extra], swap=False
        )
        try:
            words = sorted({w for c in pairs for w in (c.first, c.second)})
            previews = suggest.previews(engine, engine.alias_targets(args.alias)[0], build.index, words)
        finally:
            engine.delete_index(build.index)
    out = Path(args.out or Path(settings.var_dir) / "synonyms-suggested.txt")
    suggest.write(out, suggest.review_file(pairs, previews))
    print(f"{len(pairs)} suggested pairs for review in {out}; nothing was applied", file=sys.stderr)
    _emit({"suggested": len(pairs), "file": str(out)})
    return 0


def cmd_synonyms_apply(args: argparse.Namespace, settings: Settings) -> int:
    result = jobs.synonyms_apply(settings, args.alias, dry_run=args.dry_run)
    if not result["changed_terms"]:
        print("synonyms unchanged: nothing to apply", file=sys.stderr)
    else:
        verb = "previewed (dry run, alias unchanged)" if args.dry_run else "applied"
        if not args.dry_run and not result["applied"]:
            verb = f"refused by the golden gate ({'; '.join(result['gate'])}), alias unchanged"
        elif result["gate"]:
            verb += f" ({'; '.join(result['gate'])})"
        print(
            f"{verb}: {args.alias} -> {result['index']}; changed terms: {', '.join(result['changed_terms'])}",
            file=sys.stderr,
        )
        print(result["impact_markdown"])
        if not args.dry_run and not result["applied"]:
            return 1
    return 0


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--alias", default=settings.products_alias, help="products alias (default: %(default)s)"
        )
        return p

    p = command("index-demo", "generate the demo catalog and build a new index version")
    p.add_argument("--size", type=int, default=settings.catalog_size)
    p.add_argument("--seed", type=int, default=settings.catalog_seed)
    p.add_argument("--if-empty", action="store_true", help="do nothing when the alias already holds products")
    p.set_defaults(run=cmd_index_demo)

    p = command("catalog-generate", "write the demo catalog as JSONL (Quarry's import schema)")
    p.add_argument("--size", type=int, default=settings.catalog_size)
    p.add_argument("--seed", type=int, default=settings.catalog_seed)
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_catalog_generate)

    p = command("import", "import a real catalog (CSV, JSONL, Parquet or WANDS) into a new index version")
    p.add_argument("path")
    p.add_argument("--format", choices=FORMATS)
    p.add_argument("--strict", action="store_true", help="fail on the first bad row")
    p.set_defaults(run=cmd_import)

    p = command(
        "vocabulary", "build the spelling dictionary, entity vocabularies and suggestions from the catalog"
    )
    p.add_argument("--if-missing", action="store_true", help="do nothing when a version is already current")
    p.set_defaults(run=cmd_vocabulary)

    p = command("data-quality", "run a data-quality suite; exit 1 when a critical check fails")
    p.add_argument("--suite", choices=["training", "all"], default="all")
    p.add_argument(
        "--events-index", default=None, help="check another copy of the events (default ubi_events)"
    )
    p.set_defaults(run=cmd_data_quality)

    p = command(
        "catalog-priors", "rank products by rating, reviews and freshness: the cold-start recommendations"
    )
    p.add_argument("--if-missing", action="store_true", help="do nothing when a version is already current")
    p.set_defaults(run=cmd_catalog_priors)

    p = command("embeddings", "encode the catalog into a new index version and publish the FAISS artifact")
    p.add_argument(
        "--full", action="store_true", help="re-encode every product, ignoring the embedding cache"
    )
    p.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when the artifact matches the live index and model",
    )
    p.set_defaults(run=cmd_embeddings)

    p = command(
        "experiment-validation",
        "100 A/A tests and a known-better A/B and interleaving test on simulated recommendation traffic",
    )
    p.add_argument("--visits", type=int, default=24000)
    p.add_argument("--seed", type=int, default=7, help="the make simulate run whose shoppers to use")
    p.set_defaults(run=cmd_experiment_validation)
    p = command("experiment-report", "an experiment's metrics from UBI per variant, with the SRM check")
    p.add_argument("--name", required=True, help="the experiment's name (its definition file)")
    p.set_defaults(run=cmd_experiment_report)

    p = command("golden", "re-grade the golden set (tests/golden/judgments.tsv.gz) against the demo catalog")
    p.set_defaults(run=cmd_golden)

    p = command("eval", "NDCG@10, MRR and zero-result rate: raw BM25 vs the full pipeline")
    p.add_argument("--no-write", action="store_true", help="print only; do not write the report")
    p.add_argument(
        "--report", default="eval-search", help="report name under reports/ (default: %(default)s)"
    )
    p.add_argument("--no-variants", action="store_true", help="only raw BM25 and the live pipeline")
    p.set_defaults(run=cmd_eval)

    p = command("privacy-migrate", "pseudonymize the user and client ids of events and searches stored raw")
    p.set_defaults(run=cmd_privacy_migrate)
    p = command("events-retention", "delete events and logged searches older than their retention windows")
    p.set_defaults(run=cmd_events_retention)

    add_keys_parser(sub)
    add_models_parser(sub)

    p = command(
        "security-audit", "static scan, dependency vulnerabilities, schemathesis -> reports/security-audit.*"
    )
    p.add_argument("--out", default=str(PROJECT_ROOT / "reports"))
    p.set_defaults(run=cmd_security_audit)

    p = command("ubi-migrate", "move UBI stores of an older layout to the current one (make up runs it)")
    p.set_defaults(run=cmd_ubi_migrate)

    p = command("events-replay", "load UBI events of any age from a JSON or NDJSON file (operators only)")
    p.add_argument("file", help='NDJSON (an event or an array per line), a JSON array, or {"events": [...]}')
    p.set_defaults(run=cmd_events_replay)

    p = command("events-fill-queries", "give events that name a logged search its user_query")
    p.add_argument("--days", type=int, default=2, help="events of the last N days (default: %(default)s)")
    p.set_defaults(run=cmd_events_fill_queries)

    p = command(
        "train-ltr", "train the LTR model (XGBoost rank:ndcg), compare it with the formula, register it"
    )
    p.add_argument("--no-register", action="store_true", help="cross-validate and report only")
    p.set_defaults(run=cmd_train_ltr)
    p = command(
        "eval-ltr",
        "the learned ranker through the whole pipeline, out of fold, against the formula and raw BM25",
    )
    p.set_defaults(run=cmd_eval_ltr)

    p = command("ltr-export", "the feature set and an LTR model in the OpenSearch LTR plugin's formats")
    p.add_argument("--version", help="model version (default: the champion, else the candidate)")
    p.add_argument("--out", help="directory (default: var/ltr-export/)")
    p.set_defaults(run=cmd_ltr_export)

    p = command("ltr-replay", "log LTR features for past searches (ubi_queries) not logged yet")
    p.add_argument("--days", type=int, default=7, help="searches of the last N days (default: %(default)s)")
    p.add_argument("--limit", type=int, default=2000, help="at most this many, newest first")
    p.set_defaults(run=cmd_ltr_replay)

    p = command(
        "judgments-coec",
        "implicit judgments from ubi_events by COEC, as the Search Relevance Workbench makes them",
    )
    p.add_argument("--max-rank", type=int, default=20)
    p.add_argument("--start", help="first day (yyyy-mm-dd)")
    p.add_argument("--end", help="last day (yyyy-mm-dd), included")
    p.add_argument("--out", help="where the judgments go (default: var/judgments/coec-<today>.json)")
    p.set_defaults(run=cmd_judgments_coec)

    p = command("simulate", "synthetic shoppers: searches through the API, UBI events through /v1/events")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--days", type=int, default=7, help="at most QUARRY_EVENTS_MAX_AGE_DAYS")
    p.add_argument("--events-per-day", type=int, default=20000)
    p.add_argument("--api", help="API base URL (default: the QUARRY_API_HOST/PORT of make up)")
    p.set_defaults(run=cmd_simulate)

    p = command(
        "simulate-recommendations",
        "make simulate's shoppers open recommendations through the API and click them by taste",
    )
    p.add_argument("--seed", type=int, default=7, help="the make simulate run whose shoppers to use")
    p.add_argument("--visits", type=int, default=2000)
    p.add_argument("--visit-seed", type=int, help="another sequence of visits by the same shoppers")
    p.add_argument("--api", help="API base URL (default: the QUARRY_API_HOST/PORT of make up)")
    p.set_defaults(run=cmd_simulate_recommendations)

    p = command("popularity", "popularity_score, popular:{category}:{k} lists and user category affinity")
    p.add_argument("--window-days", type=float, default=14.0)
    p.add_argument("--half-life-days", type=float, default=3.0)
    p.set_defaults(run=cmd_popularity)

    for name, handler, text in (
        ("train-als", cmd_train_als, "train implicit ALS on ubi_events and publish it"),
        ("eval-recommend", cmd_eval_recommend, "ALS vs popularity on a time split"),
    ):
        p = command(name, text)
        p.add_argument("--window-days", type=float, default=30.0)
        p.add_argument("--factors", type=int, default=64)
        p.add_argument("--regularization", type=float, default=0.05)
        p.add_argument("--iterations", type=int, default=20)
        p.add_argument("--alpha", type=float, default=2.0)
        p.add_argument("--seed", type=int, default=7, help="simulator seed whose latent tastes to check")
        p.set_defaults(run=handler)

    p = command("rollback", "point the alias back at the previous index version")
    p.set_defaults(run=cmd_rollback)

    p = command("synonyms-check", "validate synonyms/*.txt (and warn about terms the catalog lacks)")
    p.add_argument("--offline", action="store_true", help="skip the catalog check")
    p.set_defaults(run=cmd_synonyms_check)

    p = command("synonyms-suggest", "mine candidate synonym pairs from clicks and embeddings for review")
    p.add_argument("--out", help="the review file (default: var/synonyms-suggested.txt)")
    p.add_argument("--no-preview", action="store_true", help="skip the dry-run impact preview")
    p.set_defaults(run=cmd_synonyms_suggest)

    p = command("synonyms-apply", "make synonym edits live with zero downtime and preview their impact")
    p.add_argument("--dry-run", action="store_true", help="build and preview, but do not swap the alias")
    p.set_defaults(run=cmd_synonyms_apply)
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    args = build_parser(settings).parse_args(argv)
    try:
        code: int = args.run(args, settings)
    except (SearchEngineError, ValueError, RowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code

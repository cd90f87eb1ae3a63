"""`python -m pipelines models list|show|promote|rollback|watch`: the registry for operators
(docs/model-lifecycle.md). Results go to stdout as JSON; a refused promotion exits 1 with the gate's
reasons."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from pipelines.registry import gate
from pipelines.registry.canary import CanaryPolicy, CanarySources
from pipelines.registry.mirror import MlflowMirror, RegistryMirror
from pipelines.registry.registry import ModelRegistry, RegistryError
from quarry import connections
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.model_aliases import ALIASES
from quarry.settings import Settings

SERVED = ("als", "faiss", "query-understanding", "catalog-priors", "synonyms", "ltr")
"""The artifacts the service loads and the registry keeps."""


def mlflow_uris(settings: Settings) -> tuple[str, str]:
    """The tracking database and artifact root `make mlflow` serves (absolute: MLflow otherwise
    writes beside whatever directory it was started in)."""
    root = settings.var_path / "mlflow"
    root.mkdir(parents=True, exist_ok=True)
    tracking = settings.mlflow_tracking_uri or f"sqlite:///{root / 'mlflow.db'}"
    return tracking, (root / "artifacts").as_uri()


def registry_of(settings: Settings) -> ModelRegistry:
    mirror: RegistryMirror | None = None
    if settings.registry_mirror == "mlflow":
        mirror = MlflowMirror(*mlflow_uris(settings))
    return ModelRegistry(LocalArtifactStore(settings.artifacts_dir), mirror)


def canary_evidence(
    settings: Settings, events_index: str | None = None
) -> tuple[CanarySources, CanaryPolicy]:
    """Where a canary's evidence is (the records on the search cluster, the UBI events on theirs)
    and the guardrails it is judged by."""
    engine = connections.search_engine(settings)
    sources = CanarySources(
        engine,
        connections.ubi_engine(settings),
        **({"events_index": events_index} if events_index else {}),
    )
    return sources, CanaryPolicy(min_requests=settings.canary_min_requests)


def _emit(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    registry = registry_of(settings)
    try:
        if args.action == "list":
            names = [args.name] if args.name else list(SERVED)
            _emit(
                {
                    name: {"aliases": registry.aliases(name), "versions": registry.versions(name)}
                    for name in names
                }
            )
        elif args.action == "show":
            _emit(registry.show(args.name, args.version))
        elif args.action == "promote":
            if args.force and not args.reason:
                print("--force needs --reason: it is recorded with the alias change", file=sys.stderr)
                return 2
            sources, policy = canary_evidence(settings)
            decision = gate.decide(
                registry, args.name, args.version, args.to, sources.records, policy, sources
            )
            if not decision.passed and not args.force:
                _emit({"promoted": False, "gate": decision})
                print(f"refused by the {decision.stage} gate: {'; '.join(decision.reasons)}", file=sys.stderr)
                return 1
            reason = args.reason or f"{decision.stage} gate: {'; '.join(decision.reasons)}"
            if not decision.passed:
                reason = (
                    f"forced past the {decision.stage} gate ({'; '.join(decision.reasons)}): {args.reason}"
                )
            _emit(
                {
                    "promoted": True,
                    "gate": decision,
                    "change": registry.set_alias(args.name, args.to, args.version, reason),
                }
            )
        elif args.action == "rollback":
            _emit(registry.rollback(args.name, args.reason))
        elif args.action == "watch":
            from pipelines import jobs

            _emit(jobs.model_promotion(settings))
    except RegistryError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def add_models_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "models", help="the model registry: list, show, promote, rollback (docs/model-lifecycle.md)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="versions with their aliases, metrics and data windows")
    listing.add_argument("name", nargs="?", choices=SERVED)
    show = actions.add_parser("show", help="one version's whole record")
    show.add_argument("name", choices=SERVED)
    show.add_argument("version")
    promote = actions.add_parser("promote", help="move an alias to a version through the promotion gate")
    promote.add_argument("name", choices=SERVED)
    promote.add_argument("version")
    promote.add_argument("--to", required=True, choices=ALIASES)
    promote.add_argument("--force", action="store_true", help="past a refusing gate (needs --reason)")
    promote.add_argument("--reason", default="")
    rollback = actions.add_parser("rollback", help="the champion back to the version it replaced")
    rollback.add_argument("name", choices=SERVED)
    rollback.add_argument("--reason", required=True)
    actions.add_parser(
        "watch",
        help="one look at every shadow and canary: promote what passed, roll back a breached canary",
    )
    parser.set_defaults(run=cmd_models)

"""`python -m pipelines keys create|list|rotate|revoke`: API keys for operators with access to the
cluster (docs/security.md). A new or rotated key's token is printed once, on stdout, as JSON; it is
stored only as a hash."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

import msgspec

from quarry.adapters.search_engine import OpenSearchEngine
from quarry.api_keys import (
    FILTER_KINDS,
    SCOPES,
    ApiKeys,
    FilterValue,
    KeyStoreError,
    OpenSearchKeyStore,
    UnknownKeyError,
)
from quarry.settings import Settings


def parse_filters(pairs: list[str]) -> dict[str, FilterValue]:
    """`brand=Acme` (repeatable: a list), `in_stock=true`, `price_max=200`; checked again, with the
    names and types, when the key is created."""
    filters: dict[str, FilterValue] = {}
    for pair in pairs:
        name, equals, raw = pair.partition("=")
        if not equals or not name or not raw:
            raise ValueError(f"a filter is name=value, not {pair!r}")
        kind = FILTER_KINDS.get(name)
        value: FilterValue
        if kind is bool:
            if raw not in ("true", "false"):
                raise ValueError(f"filter {name!r} takes true or false, not {raw!r}")
            value = raw == "true"
        elif kind is float:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"filter {name!r} takes a number, not {raw!r}") from None
        else:
            existing = filters.get(name)
            value = [*existing, raw] if isinstance(existing, list) else [raw]
        filters[name] = value
    return filters


def _keys(settings: Settings) -> ApiKeys:
    return ApiKeys(
        OpenSearchKeyStore(OpenSearchEngine(settings.opensearch_url, settings.opensearch_timeout_s))
    )


def _emit(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    keys = _keys(settings)
    try:
        if args.action == "create":
            issued = keys.create(
                args.owner,
                tuple(args.scope),
                description=args.description,
                expires_in=dt.timedelta(days=args.expires_days) if args.expires_days else None,
                filters=parse_filters(args.filter),
                search_per_minute=args.search_per_minute,
                recommend_per_minute=args.recommend_per_minute,
            )
            print("the token is shown once; store it now", file=sys.stderr)
            _emit({"token": issued.token, "key": issued.key.info()})
        elif args.action == "list":
            _emit([key.info() for key in keys.list()])
        elif args.action == "rotate":
            issued = keys.rotate(args.key_id, dt.timedelta(hours=args.grace_hours))
            print(f"the old secret works until {issued.key.previous_valid_until}", file=sys.stderr)
            _emit({"token": issued.token, "key": issued.key.info()})
        else:
            _emit(keys.revoke(args.key_id).info())
    except (UnknownKeyError, KeyStoreError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


def add_keys_parser(sub: Any) -> None:
    parser = sub.add_parser("keys", help="API keys: create, list, rotate, revoke (docs/security.md)")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue a key (its token is printed once)")
    create.add_argument("--owner", required=True, help="who holds the key (a team, a partner)")
    create.add_argument("--scope", action="append", required=True, choices=SCOPES, help="repeatable")
    create.add_argument("--description", default="")
    create.add_argument("--expires-days", type=float, help="expiry (default: none)")
    create.add_argument(
        "--filter", action="append", default=[], help="a fixed filter, name=value (repeatable)"
    )
    create.add_argument("--search-per-minute", type=int, help="this key's search limit")
    create.add_argument("--recommend-per-minute", type=int, help="this key's recommendation limit")
    actions.add_parser("list", help="every key, without secrets")
    rotate = actions.add_parser("rotate", help="a new secret; the old one stays valid for --grace-hours")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace-hours", type=float, default=24.0)
    revoke = actions.add_parser("revoke", help="stop a key at once (every worker within 10 s)")
    revoke.add_argument("key_id")
    parser.set_defaults(run=cmd_keys)

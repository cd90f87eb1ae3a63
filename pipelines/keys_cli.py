"""`python -m pipelines keys create|list|rotate|revoke`: API keys for operators with access to the
cluster (docs/security.md). A new or rotated key's token is printed once, on stdout, as JSON; it is
stored only as a hash."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from pipelines.api_access import cluster_keys
from quarry.api_keys import (
    FILTER_KINDS,
    SCOPES,
    ApiKeys,
    FilterValue,
    KeyStoreError,
    Scope,
    UnknownKeyError,
)
from quarry.settings import Settings
from quarry.user_tokens import (
    HEADER,
    MAX_LIFETIME_S,
    MasterSecretError,
    encode_secret,
    key_secret,
    master_secret,
    sign,
)


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


class DemoKey(msgspec.Struct, frozen=True):
    label: str
    scopes: tuple[Scope, ...]
    description: str
    shown: bool
    """Printed by `make up`; the scraper's key is only named by its file."""


DEMO_KEYS = {
    "demo-search": DemoKey("Search key", ("search",), "demo: public search key, safe in a web page", True),
    "demo-admin": DemoKey("Admin key", SCOPES, "demo: every scope; keep it secret", True),
    "storefront": DemoKey(
        "Storefront key",
        ("search", "recommend", "events"),
        "demo: the /ui storefront's public key (search, recommendations, events), embedded in its pages",
        False,
    ),
    "metrics": DemoKey("Metrics key", ("metrics",), "Prometheus scrapes /metrics with it", False),
}


def demo_keys(keys: ApiKeys, folder: Path) -> dict[str, tuple[Path, str]]:
    """The keys `make up` hands a new user, kept in `folder/<name>.token` (readable by the owner only)
    and issued again only when the one on file no longer works (revoked, or the cluster is new)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    found = {}
    for name, demo in DEMO_KEYS.items():
        path = folder / f"{name}.token"
        token = path.read_text().strip() if path.exists() else ""
        key = keys.verify(token) if token else None
        if key is None or set(key.scopes) != set(demo.scopes):
            if key is not None:  # scopes changed in a newer version: the old key must not linger
                keys.revoke(key.key_id)
            token = keys.create(name, demo.scopes, description=demo.description).token
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(token + "\n")
            path.chmod(0o600)  # a file that existed keeps its mode through O_TRUNC
        found[name] = (path, token)
    return found


def _emit(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def _master(settings: Settings) -> bytes:
    """Read, never made here: a secret made on another machine than the API's would sign tokens the
    API refuses."""
    return master_secret(settings.user_token_secret, settings.var_path, create=False)


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    keys = cluster_keys(settings)
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
            _emit([key.info() for key in keys.list(include_inactive=args.all)])
        elif args.action == "demo":
            for name, (path, token) in demo_keys(keys, settings.var_path / "keys").items():
                print(f"  {DEMO_KEYS[name].label:<14} {token if DEMO_KEYS[name].shown else path}")
        elif args.action == "rotate":
            issued = keys.rotate(args.key_id, dt.timedelta(hours=args.grace_hours))
            print(f"the old secret works until {issued.key.previous_valid_until}", file=sys.stderr)
            _emit({"token": issued.token, "key": issued.key.info()})
        elif args.action == "user-secret":
            key = keys.get(args.key_id)
            secret = key_secret(_master(settings), key.key_id, key.secret_sha256)
            _emit({"key_id": key.key_id, "secret": encode_secret(secret), "header": HEADER})
        elif args.action == "user-token":
            key = keys.get(args.key_id)
            secret = key_secret(_master(settings), key.key_id, key.secret_sha256)
            if not 0 < args.hours <= MAX_LIFETIME_S / 3600:
                raise ValueError(f"--hours is more than 0 and at most {MAX_LIFETIME_S // 3600}")
            expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=args.hours)
            _emit({"header": HEADER, "token": sign(secret, args.user_id, expires_at.timestamp())})
        else:
            _emit(keys.revoke(args.key_id).info())
    except (UnknownKeyError, KeyStoreError, MasterSecretError, ValueError) as exc:
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
    listing = actions.add_parser("list", help="keys that work now, without secrets")
    listing.add_argument("--all", action="store_true", help="revoked and expired keys too")
    actions.add_parser("demo", help="the demo search, admin and metrics keys in var/keys (make up)")
    rotate = actions.add_parser("rotate", help="a new secret; the old one stays valid for --grace-hours")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace-hours", type=float, default=24.0)
    revoke = actions.add_parser("revoke", help="stop a key at once (every worker within 10 s)")
    revoke.add_argument("key_id")
    user_secret = actions.add_parser(
        "user-secret", help="the secret a shop's backend signs this key's user tokens with"
    )
    user_secret.add_argument("key_id")
    user_token = actions.add_parser("user-token", help="sign a user token for this key (to try it out)")
    user_token.add_argument("key_id")
    user_token.add_argument("user_id")
    user_token.add_argument("--hours", type=float, default=1.0, help="lifetime (default 1)")
    parser.set_defaults(run=cmd_keys)

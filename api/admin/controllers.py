"""`/admin/keys`: issuing, listing, rotating and revoking API keys over HTTP, for keys with the `admin`
scope (the same operations as `python -m pipelines keys`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import JSONBody, Parameter

from api.admin.schemas import (
    AccessEntries,
    AuditEntries,
    Issued,
    KeyList,
    NewAccessEntry,
    NewKey,
    Rotation,
    UserTokenSecret,
)
from api.dependencies import from_state
from api.examples import (
    ACCESS_ENTRY,
    AUDIT_ENTRY,
    ISSUED_KEY,
    KEY_INFO,
    PROBLEM_400,
    PROBLEM_404,
    USER_TOKEN_SECRET,
    example_responses,
)
from api.problems import bad_request_handler, not_found_handler
from api.security.auth import caller_of
from api.security.clients import client_address
from quarry.access_lists import AccessEntry, AccessLists
from quarry.api_keys import KEY_ID, ApiKeys, KeyInfo, UnknownKeyError
from quarry.audit import AuditLog
from quarry.user_tokens import encode_secret, key_secret

KeyId = Annotated[
    str,
    Parameter(
        pattern=KEY_ID.pattern,
        description="The key's id (its visible prefix)",
        examples=[Example(value="qk_3fe0c5dc41a7")],
    ),
]


def audit_action(request: Request[Any, Any, Any], action: str, target: str, detail: str = "") -> None:
    """Who did what to what, from where (the audit log of docs/security.md#audit)."""
    audit: AuditLog = request.app.state.audit
    audit.record(caller_of(request).key_id or "auth-off", action, target, client_address(request), detail)


class KeyAdminController(Controller):
    path = "/admin/keys"
    tags = ["admin"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {  # noqa: RUF012
        "keys": from_state("api_keys"),
        "user_token_master": from_state("user_token_master"),
    }
    opt = {"scope": "admin"}  # noqa: RUF012
    exception_handlers = {ValueError: bad_request_handler, UnknownKeyError: not_found_handler}  # noqa: RUF012

    @post(
        summary="Issue a key; its token is in this response only",
        status_code=201,
        sync_to_thread=True,
        responses=example_responses(Issued, ISSUED_KEY, PROBLEM_400, status=201),
    )
    def create(
        self, request: Request[Any, Any, Any], data: JSONBody[NewKey], keys: NamedDependency[ApiKeys]
    ) -> Issued:
        issued = keys.create(
            data.owner,
            tuple(data.scopes),
            description=data.description,
            expires_in=dt.timedelta(days=data.expires_in_days) if data.expires_in_days else None,
            filters=data.filters,
            search_per_minute=data.search_per_minute,
            recommend_per_minute=data.recommend_per_minute,
        )
        audit_action(request, "create", issued.key.key_id)
        return Issued(issued.token, issued.key.info())

    @get(
        summary="Keys that work now (include_inactive adds revoked and expired ones)",
        sync_to_thread=True,
        responses=example_responses(KeyList, {"keys": [KEY_INFO]}),
    )
    def list_keys(
        self,
        keys: NamedDependency[ApiKeys],
        include_inactive: Annotated[
            bool, Parameter(description="Revoked and expired keys too", examples=[Example(value=False)])
        ] = False,
    ) -> KeyList:
        return KeyList([key.info() for key in keys.list(include_inactive)])

    @get(
        "/{key_id:str}",
        summary="One key, without its secret",
        sync_to_thread=True,
        responses=example_responses(KeyInfo, KEY_INFO, PROBLEM_404),
    )
    def get_key(self, keys: NamedDependency[ApiKeys], key_id: KeyId) -> KeyInfo:
        return keys.get(key_id).info()

    @post(
        "/{key_id:str}/rotate",
        summary="A new secret; the old one works for grace_hours more",
        status_code=200,
        sync_to_thread=True,
        responses=example_responses(Issued, ISSUED_KEY, PROBLEM_400, PROBLEM_404),
    )
    def rotate(
        self,
        request: Request[Any, Any, Any],
        keys: NamedDependency[ApiKeys],
        key_id: KeyId,
        data: JSONBody[Rotation],
    ) -> Issued:
        issued = keys.rotate(key_id, dt.timedelta(hours=data.grace_hours))
        audit_action(request, "rotate", key_id)
        return Issued(issued.token, issued.key.info())

    @get(
        "/{key_id:str}/user-token-secret",
        summary="The secret a shop's backend signs user tokens for this key with",
        sync_to_thread=True,
        responses=example_responses(UserTokenSecret, USER_TOKEN_SECRET, PROBLEM_404),
    )
    def user_token_secret(
        self,
        request: Request[Any, Any, Any],
        keys: NamedDependency[ApiKeys],
        user_token_master: NamedDependency[bytes],
        key_id: KeyId,
    ) -> UserTokenSecret:
        key = keys.get(key_id)
        audit_action(request, "read user-token secret", key_id)
        return UserTokenSecret(
            key_id, encode_secret(key_secret(user_token_master, key_id, key.secret_sha256))
        )

    @delete(
        "/{key_id:str}",
        summary="Revoke a key (the record stays, marked revoked)",
        status_code=200,
        sync_to_thread=True,
        responses=example_responses(KeyInfo, KEY_INFO, PROBLEM_404),
    )
    def revoke(
        self, request: Request[Any, Any, Any], keys: NamedDependency[ApiKeys], key_id: KeyId
    ) -> KeyInfo:
        revoked = keys.revoke(key_id)
        audit_action(request, "revoke", key_id)
        return revoked.info()


class AccessAdminController(Controller):
    """Allow and deny lists of addresses and networks (docs/security.md#abuse-protection)."""

    path = "/admin/access"
    tags = ["admin"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"access_lists": from_state("access_lists")}  # noqa: RUF012
    opt = {"scope": "admin"}  # noqa: RUF012
    exception_handlers = {ValueError: bad_request_handler}  # noqa: RUF012

    @get(
        summary="The allow and deny entries in force",
        sync_to_thread=True,
        responses=example_responses(AccessEntries, {"entries": [ACCESS_ENTRY]}),
    )
    def list_entries(self, access_lists: NamedDependency[AccessLists]) -> AccessEntries:
        return AccessEntries(access_lists.entries())

    @post(
        summary="Allow or deny an address or network (every worker within 5 s)",
        status_code=201,
        sync_to_thread=True,
        responses=example_responses(AccessEntry, ACCESS_ENTRY, PROBLEM_400, status=201),
    )
    def add_entry(
        self,
        request: Request[Any, Any, Any],
        access_lists: NamedDependency[AccessLists],
        data: JSONBody[NewAccessEntry],
    ) -> AccessEntry:
        entry = access_lists.add(
            data.list,
            data.network,
            data.reason,
            created_by=caller_of(request).key_id,
            expires_in=dt.timedelta(hours=data.expires_in_hours) if data.expires_in_hours else None,
        )
        audit_action(request, f"{entry.list} network", entry.network, f"{entry.entry_id}: {entry.reason}")
        return entry

    @delete(
        "/{entry_id:str}",
        summary="Remove an entry (it stops matching on every worker within 5 s)",
        status_code=200,
        sync_to_thread=True,
        responses=example_responses(AccessEntry, ACCESS_ENTRY, PROBLEM_404),
    )
    def remove_entry(
        self,
        request: Request[Any, Any, Any],
        access_lists: NamedDependency[AccessLists],
        entry_id: Annotated[
            str, Parameter(pattern=r"^acl_[0-9a-f]{12}$", examples=[Example(value="acl_5d1f0c9e2b7a")])
        ],
    ) -> AccessEntry:
        removed = access_lists.remove(entry_id)
        if removed is None:
            raise NotFoundException(f"no access-list entry {entry_id}")
        audit_action(request, f"remove {removed.list} network", removed.network, entry_id)
        return removed


class AuditController(Controller):
    path = "/admin/audit"
    tags = ["admin"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"audit": from_state("audit")}  # noqa: RUF012
    opt = {"scope": "admin"}  # noqa: RUF012

    @get(
        summary="The admin audit log, newest first: key changes, access lists, blocks, user deletions",
        sync_to_thread=True,
        responses=example_responses(AuditEntries, {"entries": [AUDIT_ENTRY]}),
    )
    def read(
        self,
        audit: NamedDependency[AuditLog],
        limit: Annotated[int, Parameter(ge=1, le=1000, examples=[Example(value=100)])] = 100,
        action: Annotated[
            str | None, Parameter(max_length=100, examples=[Example(value="block:enumeration")])
        ] = None,
        target: Annotated[
            str | None, Parameter(max_length=200, examples=[Example(value="qk_3fe0c5dc41a7")])
        ] = None,
    ) -> AuditEntries:
        return AuditEntries(audit.recent(limit, action, target))

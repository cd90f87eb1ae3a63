"""`/admin/users/{user_id}`: a shopper's consent, export and erasure (docs/privacy.md), for keys
with the `admin` scope. Every call is in the audit log, by pseudonym."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import JSONBody, Parameter

from api.admin.controllers import audit_action
from api.dependencies import from_state
from api.examples import (
    ERASURE_RECEIPT,
    PROBLEM_503_ERASURE,
    USER_CONSENT,
    USER_EXPORT,
    example_responses,
)
from api.privacy.schemas import ConsentChange, ErasureReceipt, UserConsent, UserExport
from api.privacy.services import ErasureIncompleteError, UserPrivacyService

UserId = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=128,
        description="The user id the shop knows the shopper by (Quarry keeps only its pseudonym)",
        examples=[Example(value="u-123")],
    ),
]


class UserPrivacyController(Controller):
    path = "/admin/users/{user_id:str}"
    tags = ["admin"]  # noqa: RUF012 - Litestar declares these as instance attributes
    dependencies = {"user_privacy": from_state("user_privacy")}  # noqa: RUF012
    opt = {"scope": "admin"}  # noqa: RUF012

    @get(
        "/consent",
        summary="A shopper's standing consent to personalization and tracking",
        sync_to_thread=True,
        responses=example_responses(UserConsent, USER_CONSENT),
    )
    def consent(self, user_privacy: NamedDependency[UserPrivacyService], user_id: UserId) -> UserConsent:
        return user_privacy.consent(user_id)

    @put(
        "/consent",
        summary="Record a shopper's consent; every API process honours it within QUARRY_CONSENT_REFRESH_S",
        sync_to_thread=True,
        responses=example_responses(UserConsent, USER_CONSENT),
    )
    def set_consent(
        self,
        request: Request[Any, Any, Any],
        user_privacy: NamedDependency[UserPrivacyService],
        user_id: UserId,
        data: JSONBody[ConsentChange],
    ) -> UserConsent:
        changed = user_privacy.set_consent(user_id, data)
        detail = f"personalization={data.personalization} tracking={data.tracking}"
        audit_action(request, "set consent", changed.user, detail)
        return changed

    @get(
        "/export",
        summary="Everything Quarry holds about a shopper, as JSON (GDPR access and portability)",
        sync_to_thread=True,
        responses=example_responses(UserExport, USER_EXPORT),
    )
    def export(
        self,
        request: Request[Any, Any, Any],
        user_privacy: NamedDependency[UserPrivacyService],
        user_id: UserId,
    ) -> UserExport:
        exported = user_privacy.export(user_id)
        audit_action(request, "export user", exported.user, f"{len(exported.events)} events")
        return exported

    @delete(
        summary="Erase every record of a shopper and return a receipt per store (GDPR erasure)",
        status_code=200,
        sync_to_thread=True,
        responses=example_responses(ErasureReceipt, ERASURE_RECEIPT, PROBLEM_503_ERASURE),
    )
    def erase(
        self,
        request: Request[Any, Any, Any],
        user_privacy: NamedDependency[UserPrivacyService],
        user_id: UserId,
    ) -> ErasureReceipt:
        target = user_privacy.pseudonym(user_id)
        try:
            receipt = user_privacy.erase(user_id)
        except ErasureIncompleteError as exc:
            audit_action(request, "erase user", target, f"incomplete: {exc}")
            raise
        counts = ", ".join(f"{s.store}={s.removed}" for s in receipt.stores)
        audit_action(request, "erase user", target, counts)
        return receipt

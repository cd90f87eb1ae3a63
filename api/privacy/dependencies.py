from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import ValidationException

from quarry.privacy import CONSENT_HEADER, Consent, ConsentError, consent_of_header


def request_consent(connection: ASGIConnection[Any, Any, Any, Any]) -> Consent:
    """The request's `Quarry-Consent`; a value Quarry cannot read is a 400, never ignored."""
    try:
        return consent_of_header(connection.headers.get(CONSENT_HEADER))
    except ConsentError as exc:
        raise ValidationException(str(exc)) from exc

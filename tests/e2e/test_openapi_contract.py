"""Schemathesis against the served OpenAPI document: no 5xx for any generated input, and every
documented response matches its schema. Runs the real server process over the demo catalog, with a
key holding every scope but `admin` (generated key creations would litter the shared key store; the
admin routes still run, and answer their documented 403)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from quarry.api_keys import SCOPES, temporary_key
from tests.conftest import running_api


@pytest.fixture(scope="module")
def server(demo_catalog, api_keys):
    with (
        running_api(
            QUARRY_PRODUCTS_ALIAS=demo_catalog.products_alias,
            QUARRY_ARTIFACTS_DIR=demo_catalog.artifacts_dir,
            QUARRY_LOG_LEVEL="WARNING",
        ) as (base, _, _),
        temporary_key(api_keys, "schemathesis", tuple(s for s in SCOPES if s != "admin")) as token,
    ):
        yield base, {"Authorization": f"Bearer {token}"}


def test_no_server_errors_and_responses_match_the_schema(server) -> None:
    base, auth = server
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/search", "/v1/suggest", "/v1/products/{product_id}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case) -> None:
            case.call_and_validate(headers=auth, checks=[not_a_server_error, response_schema_conformance])

        call()

from litestar.testing import TestClient

from api.app import create_app
from quarry.settings import load_settings
from quarry.tracing import trace_id_from

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_trace_id_comes_from_a_valid_traceparent() -> None:
    assert trace_id_from(TRACEPARENT) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_invalid_traceparent_gets_a_fresh_trace_id() -> None:
    for bad in [None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"]:
        fresh = trace_id_from(bad)
        assert len(fresh) == 32 and fresh != "0" * 32
    assert trace_id_from(None) != trace_id_from(None)


def test_errors_are_problem_json_with_the_callers_trace_id() -> None:
    # No route touches OpenSearch or Redis here, so none needs to run.
    app = create_app(
        load_settings(
            {"QUARRY_OPENSEARCH_URL": "http://127.0.0.1:1", "QUARRY_REDIS_URL": "redis://127.0.0.1:1"}
        )
    )
    with TestClient(app) as client:
        missing = client.get("/v1/nowhere", headers={"traceparent": TRACEPARENT})
        wrong_method = client.delete("/health/live")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    body = missing.json()
    assert body["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" == missing.headers["x-trace-id"]
    assert (body["status"], body["instance"]) == (404, "/v1/nowhere")
    assert wrong_method.status_code == 405 and len(wrong_method.json()["trace_id"]) == 32


def test_every_endpoint_has_examples_in_the_openapi_document() -> None:
    app = create_app(load_settings({"QUARRY_OPENSEARCH_URL": "http://127.0.0.1:1", "QUARRY_AUTH": "off"}))
    with TestClient(app) as client:
        document = client.get("/schema/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            (success,) = [status for status in operation["responses"] if status.startswith("2")]
            ok = operation["responses"][success]["content"]["application/json"]
            assert ok.get("examples"), f"{method.upper()} {path} has no response example"
            for parameter in operation.get("parameters", []):
                has_example = parameter.get("examples") or parameter["schema"].get("examples")
                assert has_example, f"{method.upper()} {path}: parameter {parameter['name']} has no example"

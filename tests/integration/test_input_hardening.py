"""Input hardening on the real app (issue 15, part 7): bounded filters, a body size limit, security
headers, an OpenSearch refusal of the request as a 400, and ranking configurations checked on load."""

from __future__ import annotations

import json
import uuid

import msgspec
import pytest

from api.app import cors_config
from quarry.adapters.cache import RedisStore
from quarry.adapters.search_engine import SearchEngineError
from quarry.search.ranking import CONFIG_KEY, RankingConfigProvider, load_config_file


def problem(response) -> dict:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["trace_id"], body
    return body


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ([("brand", f"B{n}") for n in range(21)], "at most 20 brand values"),
        ([("brand", "x" * 101)], "1-100 characters"),
        ([("color", f"c{n}") for n in range(21)], "at most 20 attribute filter values"),
    ],
)
def test_filter_values_are_bounded(api_client, params, reason) -> None:
    response = api_client.get("/v1/search", params=[("q", "sofa"), *params])
    assert response.status_code == 400 and reason in problem(response)["detail"]


def test_a_body_over_the_limit_is_a_413_problem(api_client) -> None:
    big = json.dumps([{"action_name": "view", "client_id": "c", "timestamp": 1, "pad": "x" * 4096}] * 600)
    assert len(big) > 2 * 1024 * 1024
    response = api_client.post("/v1/events", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert problem(response)["status"] == 413


def test_responses_carry_security_headers(api_client) -> None:
    search = api_client.get("/v1/search", params={"q": "sofa"})
    assert search.headers["x-content-type-options"] == "nosniff"
    assert search.headers["referrer-policy"] == "no-referrer"
    assert search.headers["content-security-policy"].startswith("default-src 'none'")
    assert "strict-transport-security" not in search.headers  # plain HTTP: no HSTS
    error = api_client.get("/v1/search", params={"q": "sofa", "page": 0})
    assert error.headers["x-content-type-options"] == "nosniff"  # errors too
    docs = api_client.get("/schema/openapi.json")
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_cors_is_off_unless_origins_are_listed() -> None:
    assert cors_config("") is None and cors_config(" , ") is None
    config = cors_config("https://shop.example, https://m.shop.example")
    assert config is not None and config.allow_origins == ["https://shop.example", "https://m.shop.example"]


def test_an_opensearch_refusal_of_the_request_is_a_400_not_a_503(api_client, monkeypatch) -> None:
    service = api_client.app.state.search_service

    def refuse(*args, **kwargs):
        raise SearchEngineError(
            "OpenSearch error 400: too_many_clauses maxClauseCount is set to 1024", status=400
        )

    monkeypatch.setattr(service, "_retrieve", refuse)
    response = api_client.get("/v1/search", params={"q": f"unseen {uuid.uuid4().hex[:8]}"})
    assert response.status_code == 400
    body = problem(response)
    assert "maxClauseCount" not in body["detail"]  # the cluster's message stays in the log


def test_a_pushed_ranking_config_without_default_weights_is_refused(settings) -> None:
    store = RedisStore(settings.redis_url.rsplit("/", 1)[0] + "/7")
    store.delete(CONFIG_KEY)
    provider = RankingConfigProvider(settings.ranking_config, store)
    try:
        good = provider.refresh()
        pushed = msgspec.to_builtins(load_config_file(settings.ranking_config))
        pushed["version"] = "2999-01-01.1"
        pushed["weights"].pop("default")
        store.set(CONFIG_KEY, msgspec.json.encode(pushed))
        assert provider.refresh() == good  # the last good one stays in use
        pushed["weights"]["default"] = pushed["weights"][next(iter(pushed["weights"]))]
        store.set(CONFIG_KEY, msgspec.json.encode(pushed))
        assert provider.refresh().version == "2999-01-01.1"  # a good push is taken
    finally:
        store.delete(CONFIG_KEY)
        # The served version is a process-wide metric (quarry_artifact_info): serve the shipped file
        # again, so other apps of this test process still report theirs.
        provider.refresh()


def test_a_negative_weight_is_refused_on_load(settings) -> None:
    config = msgspec.to_builtins(load_config_file(settings.ranking_config))
    config["weights"]["default"]["text"] = -1
    with pytest.raises(msgspec.ValidationError, match="negative weight"):
        msgspec.convert(config, type(load_config_file(settings.ranking_config)))

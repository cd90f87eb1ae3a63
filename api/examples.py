"""Example bodies for the OpenAPI document: frontend teams read these before they read the code."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from api.problems import Problem
from quarry.user_tokens import TOKEN_FORMAT

PROBLEM_400 = {
    "type": "https://quarry.dev/problems/400",
    "title": "Invalid request",
    "status": 400,
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "detail": "q is empty after normalization (only spaces, punctuation or control characters)",
    "instance": "/v1/search",
}
PROBLEM_404 = {
    **PROBLEM_400,
    "type": "https://quarry.dev/problems/404",
    "title": "Not Found",
    "status": 404,
    "detail": "no product with id 'P999999'",
    "instance": "/v1/products/P999999",
}
PROBLEM_401 = {
    **PROBLEM_400,
    "type": "https://quarry.dev/problems/401",
    "title": "Unauthorized",
    "status": 401,
    "detail": "an API key is required: send Authorization: Bearer <key> or X-API-Key",
}
PROBLEM_403 = {
    **PROBLEM_400,
    "type": "https://quarry.dev/problems/403",
    "title": "Forbidden",
    "status": 403,
    "detail": "this API key lacks the 'search' scope",
}
PROBLEM_429 = {
    **PROBLEM_400,
    "type": "https://quarry.dev/problems/429",
    "title": "Too Many Requests",
    "status": 429,
    "detail": "too many search requests; retry in 12 s",
}
PROBLEM_409 = {
    **PROBLEM_400,
    "type": "https://quarry.dev/problems/409",
    "title": "Conflict",
    "status": 409,
    "detail": "query_id '5b0c7c1e-8a4e-4f3b-9c1d-2f6e7a8b9c0d' already names another search; send a new id "
    "for each search (a retry of the same search may reuse its id)",
}
KEY_INFO = {
    "key_id": "qk_3fe0c5dc41a7",
    "owner": "storefront",
    "scopes": ["search"],
    "created_at": "2026-11-30T09:00:00Z",
    "description": "web shop search box",
    "expires_at": "2027-02-28T09:00:00Z",
    "filters": {"in_stock": True},
}
ISSUED_KEY = {"token": "qk_3fe0c5dc41a7.dZXAtZeCrHL2mfQ10nvEP8Da0bY-4c1mW0q2o9xT5sA", "key": KEY_INFO}
ACCESS_ENTRY = {
    "entry_id": "acl_5d1f0c9e2b7a",
    "list": "deny",
    "network": "198.51.100.0/24",
    "reason": "scraper, ticket SEC-142",
    "created_at": "2026-11-30T09:00:00Z",
    "created_by": "qk_3fe0c5dc41a7",
    "expires_at": "2026-12-07T09:00:00Z",
}
AUDIT_ENTRY = {
    "timestamp": "2026-11-30T09:00:00.123Z",
    "actor": "qk_3fe0c5dc41a7",
    "action": "deny network",
    "target": "198.51.100.0/24",
    "client": "203.0.113.7",
    "detail": "acl_5d1f0c9e2b7a: scraper, ticket SEC-142",
}
USER_TOKEN_SECRET = {
    "key_id": "qk_3fe0c5dc41a7",
    "secret": "Vh3m2bq0t6Kx9yZ1aQeR4sT7uW8vX0cD2fG5hJ6kL9A",
    "header": "X-User-Token",
    "format": TOKEN_FORMAT,
}
SEARCH = {
    "query_id": "5b0c7c1e-8a4e-4f3b-9c1d-2f6e7a8b9c0d",
    "query": {
        "original": "runnig shoes",
        "normalized": "runnig shoes",
        "corrected": "running shoes",
        "did_you_mean": None,
        "intent": "product_search",
        "entities": {"brand": [], "category": ["Shoes"], "color": [], "size": [], "material": []},
    },
    "total": 824,
    "page": 1,
    "size": 1,
    "results": [
        {
            "product_id": "P000902",
            "title": "Asics men's running shoes size 8",
            "brand": "Asics",
            "category": "Fashion > Shoes > Sneakers",
            "price": 118.99,
            "rating": 4.3,
            "in_stock": True,
            "score": 0.8436,
        }
    ],
    "facets": {
        "brand": [{"value": "Adidas", "count": 178}],
        "category": [{"value": "Fashion > Shoes > Sneakers", "count": 824}],
        "price": [{"value": "50-100", "count": 307}],
        "in_stock": [{"value": "true", "count": 760}],
        "attributes": {"color": [{"value": "red", "count": 74}]},
    },
    "took_ms": 8.4,
    "cache_hit": False,
    "degraded": [],
    "ext": {"ubi": {"query_id": "5b0c7c1e-8a4e-4f3b-9c1d-2f6e7a8b9c0d"}},
}
PRODUCT = {
    "product_id": "P000902",
    "title": "Asics men's running shoes size 8",
    "brand": "Asics",
    "category_path": "Fashion > Shoes > Sneakers",
    "categories": ["Fashion", "Shoes", "Sneakers"],
    "description": "The Asics running shoes offers responsive foam ...",
    "attributes": {"color": "red", "size": "8", "material": "mesh"},
    "price": 118.99,
    "rating": 4.3,
    "review_count": 57,
    "in_stock": True,
    "created_at": "2025-06-14",
}
SUGGEST = {
    "query": "sams",
    "suggestions": [{"text": "Samsung", "kind": "brand"}, {"text": "samsung tv", "kind": "query"}],
}
EVENTS = (
    '[{"application": "storefront", "action_name": "click", "client_id": "c-9", "session_id": "s-456", '
    '"query_id": "5b0c7c1e-8a4e-4f3b-9c1d-2f6e7a8b9c0d", "user_query": "trail running shoes", '
    '"timestamp": "2026-11-28T14:03:11.120Z", "event_attributes": {"object": {"object_id": "P000902", '
    '"object_id_field": "product_id"}, "position": {"ordinal": 3}}}]'
)
EVENTS_ACCEPTED = {"accepted": 1, "duplicates": 0}
PROBLEM_422 = {
    "type": "https://quarry.dev/problems/422",
    "title": "Invalid events",
    "status": 422,
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "detail": "1 of 2 events are invalid; nothing was stored",
    "instance": "/v1/events",
    "errors": [{"field": "events[1]", "reason": "event e-2: timestamp is more than 5 minutes in the future"}],
}
RECOMMENDATIONS = {
    "strategy": "collaborative",
    "user_id": "sim-u00042",
    "product_id": None,
    "model_version": "20261128T155351366189Z-69130b",
    "model_alias": "champion",
    "request_id": "5b0f7f3cfa1e4f4a9c1b6f0f4d8e2a71",
    "items": [
        {"product_id": "P004386", "score": 0.8123, "reason": "people with similar tastes engaged with this"}
    ],
}
PSEUDONYM = "p1-8f0c2a61d3b94e7f0a5c6d2e1b3f4a59"
USER_CONSENT = {
    "user": PSEUDONYM,
    "personalization": False,
    "tracking": True,
    "updated_at": "2026-11-30T09:12:44.301Z",
    "erased_at": None,
}
USER_EXPORT = {
    "user": PSEUDONYM,
    "exported_at": "2026-11-30T09:15:02.118Z",
    "consent": {"personalization": True, "tracking": True},
    "erased_at": None,
    "sessions": ["s-456"],
    "clients": ["p1-4d1e0b9a7c2f3e5d6a8b9c0d1e2f3a4b"],
    "events": [{"action_name": "click", "user_id": PSEUDONYM, "object_id": "P000902"}],
    "queries": [{"query_id": "5b0c7c1e", "user_query": "trail shoes", "user_id": PSEUDONYM}],
    "category_affinity": {"Fashion": 1.0, "Sports": 0.4},
    "session_products": {"s-456": ["P000902"]},
    "model": {
        "artifact": "als",
        "version": "20261128T155351366189Z-69130b",
        "factors": [0.12, -0.03],
        "history": {"interactions": 14, "purchased": ["P000902"]},
    },
}
ERASURE_RECEIPT = {
    "user": PSEUDONYM,
    "erased_at": "2026-11-30T09:20:11.540Z",
    "complete": True,
    "stores": [
        {"store": "ubi_events", "removed": 42, "detail": "3 sessions, 1 clients"},
        {"store": "ubi_queries", "removed": 9},
        {"store": "redis", "removed": 4, "detail": "features, sessions, cached pages"},
        {
            "store": "artifacts/als",
            "removed": 2,
            "detail": "versions redacted; current republished as 20261130T092011",
        },
        {"store": "quarry-privacy", "removed": 0, "detail": "erasure recorded at 2026-11-30T09:20:11.540Z"},
    ],
}
PROBLEM_503_ERASURE = {
    "type": "https://quarry.dev/problems/503",
    "title": "Erasure incomplete",
    "status": 503,
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "detail": "the erasure did not reach redis; retry it (erasure is idempotent)",
    "instance": "/admin/users/u-123",
    "errors": [{"field": "redis", "reason": "Redis unreachable"}],
}
LIVE = {"status": "live"}
READY = {
    "status": "ready",
    "ready": True,
    "degraded": [],
    "checks": [
        {
            "name": "opensearch",
            "ok": True,
            "latency_ms": 2.1,
            "detail": "cluster green; products -> products-20261128",
        },
        {"name": "redis", "ok": True, "latency_ms": 0.4, "detail": "PONG"},
    ],
}


EXPERIMENTS = {
    "experiments": [
        {
            "name": "als_personalization",
            "status": "running",
            "surfaces": ["recommendations"],
            "layer": "recommendations",
            "layer_range": [0.0, 1.0],
            "unit": "user",
            "start": "2026-12-01T00:00:00Z",
            "stop": "2027-01-01T00:00:00Z",
            "variants": [
                {"name": "control", "share": 0.5, "changes": {"recommendations": "popularity"}},
                {"name": "als", "share": 0.5, "changes": {"recommendations": "als"}},
            ],
            "primary_metric": "ctr",
            "guardrails": ["add_to_cart_rate", "latency"],
            "minimum_sample": 14751,
        }
    ]
}

EXPERIMENT_VERSION = {
    "name": "als_personalization",
    "version": 1,
    "changed_at": "2026-12-01T09:00:00.000+00:00",
    "changed_by": "qk_8f2c1a9e4b7d",
    "reason": "ALS against popularity, planned in the ranking review",
    "experiment": EXPERIMENTS["experiments"][0],
}
EXPERIMENT_HISTORY = {"versions": [EXPERIMENT_VERSION]}


def example_responses(
    container: type,
    success: dict[str, Any],
    *errors: dict[str, Any],
    public: bool = False,
    status: int = 200,
) -> dict[int, ResponseSpec]:
    """The success body's schema with an example, plus the problem responses the endpoint can give
    (every route but the public health checks can answer 400, 401 and 403)."""
    if not public:
        # Any authenticated call can be malformed (a parameter out of range, a body that does not
        # decode) as well as unauthenticated or unauthorized.
        errors = (*errors, PROBLEM_400, PROBLEM_401, PROBLEM_403)
    responses = {
        status: ResponseSpec(
            data_container=container,
            description=HTTPStatus(status).phrase,
            examples=[Example(summary="example", value=success)],
        )
    }
    for error in errors:
        responses[int(error["status"])] = ResponseSpec(
            data_container=Problem,
            description=str(error["title"]),
            media_type="application/problem+json",
            examples=[Example(summary=str(error["title"]), value=error)],
        )
    return responses

"""Stage 7, log: the UBI query record of every tracked search (off the request path, through the
bounded writer) and the search metrics."""

from __future__ import annotations

import datetime as dt
import logging

import msgspec

from quarry.experiments.live import Exposure
from quarry.ids import random_uuid
from quarry.metrics import SEARCHES, SPELL_CORRECTIONS, TOP_SCORE, ZERO_RESULT_SEARCHES
from quarry.query_log import APPLICATION, OBJECT_ID_FIELD, QueryLogWriter, UbiQuery
from quarry.search.schemas import CachedPage, SearchRequest
from quarry.ubi import ubi_timestamp

_REQUEST_JSON = msgspec.json.Encoder()
log = logging.getLogger("api.search")


def log_query(
    query_log: QueryLogWriter,
    request: SearchRequest,
    page: CachedPage,
    query_id: str,
    exposure: Exposure | None = None,
    latency_ms: float | None = None,
    teams: list[str] | None = None,
    explored: int | None = None,
) -> None:
    """The UBI 1.3 query record: the query as typed (the normalized form beside it), the client's
    ids, and the request itself as `query`, as the UBI plugin stores the search body. A shopper
    who opted out of tracking is logged without user, client or session (docs/privacy.md). The
    shopper's experiments, as `experiments` (experiment -> variant): the exposure an experiment's
    analysis counts (docs/experiments.md#exposure); `latency_ms`, the service's time for the search,
    is an experiment's latency guardrail; `teams`, in an interleaving experiment, the variant that placed
    each result (the readout credits clicks by it); `explored`, the phase of a position-exploration
    swap the page was shown with (quarry/search/exploration.py)."""
    if not request.track:
        request = msgspec.structs.replace(
            request,
            user_id=None,
            session_id=None,
            ubi=msgspec.structs.replace(request.ubi, client_id=None),
        )
    query_log.submit(
        UbiQuery(
            query_id=query_id,
            user_query=request.q,
            normalized_query=page.query.normalized,
            query_response_id=random_uuid(),
            query_response_hit_ids=[r.product_id for r in page.results],
            timestamp=ubi_timestamp(dt.datetime.now(dt.UTC)),
            application=request.ubi.application or APPLICATION,
            query=_REQUEST_JSON.encode(request).decode(),
            object_id_field=OBJECT_ID_FIELD,
            client_id=request.ubi.client_id,
            user_id=request.user_id,
            session_id=request.session_id,
            query_attributes={
                **request.ubi.query_attributes,
                "total": page.total,
                "page": request.page,
                "sort": request.sort,
                "intent": page.query.intent,
                # Only when set: no nulls in records, and readers ask whether `corrected` exists
                # (quarry/ubi.py).
                **({"fallback": page.fallback} if page.fallback else {}),
                **({"corrected": page.query.corrected} if page.query.corrected else {}),
                **({"experiments": exposure.as_attributes()} if exposure is not None else {}),
                **({"latency_ms": latency_ms} if latency_ms is not None else {}),
                **({"teams": teams} if teams else {}),
                **({"exploration": explored} if explored is not None else {}),
            },
        )
    )


def count(page: CachedPage) -> None:
    SEARCHES.labels(page.retrieval.mode).inc()
    if page.results:
        TOP_SCORE.observe(page.results[0].score)
    if page.query.corrected:
        SPELL_CORRECTIONS.inc()
    if page.total == 0:
        ZERO_RESULT_SEARCHES.inc()
        log.info("zero results", extra={"query": page.query.normalized})

"""The full search pipeline as an evaluation system: the API app in this process, answering the
golden queries (`make eval`, the registry's golden gate)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pipelines import evaluation
from quarry.adapters.artifact_store import ArtifactStore
from quarry.settings import Settings
from quarry.ubi import SYNTHETIC_USER_PREFIX

if TYPE_CHECKING:
    from api.search.ranking import RankingConfig

EVAL_USER = SYNTHETIC_USER_PREFIX + "eval"  # excluded from suggestions and cache warm-up

# A search system of the evaluation: for a ranking configuration (None: the live one), a search.
PipelineSystem = Callable[["RankingConfig | None"], evaluation.SearchFunction]


@contextlib.contextmanager
def pipeline_search(settings: Settings, artifacts: ArtifactStore | None = None) -> Iterator[PipelineSystem]:
    """The full pipeline as frontends see it: the API app, in process. One app serves every ranking
    variant: each search pins its configuration (cache keys carry the version, so variants never share
    pages). `artifacts`: the model store the app reads (default: settings.artifacts_dir), for example
    one that pins a candidate version."""
    from api.search.ranking import RankingSource, StaticRankingConfig
    from pipelines.api_access import in_process_api

    with in_process_api(settings, "make eval", artifacts) as client:
        service = client.app.state.search_service
        live = service.ranking

        def system(ranking: RankingConfig | None = None) -> evaluation.SearchFunction:
            source: RankingSource = live if ranking is None else StaticRankingConfig(ranking)

            def search(query: str) -> tuple[list[str], int]:
                service.ranking = source
                response = client.get(
                    "/v1/search", params={"q": query, "size": evaluation.K, "user_id": EVAL_USER}
                )
                if response.status_code != 200:
                    raise RuntimeError(f"search {query!r} failed: {response.status_code} {response.text}")
                body = response.json()
                return [r["product_id"] for r in body["results"]], int(body["total"])

            return search

        yield system

"""The full search pipeline as an evaluation system: the search core in this process, answering
the golden queries (`make eval`, the registry's golden gate)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from pipelines import evaluation
from quarry.adapters.artifact_store import ArtifactStore
from quarry.judgments import K
from quarry.settings import Settings
from quarry.ubi import SYNTHETIC_USER_PREFIX

if TYPE_CHECKING:
    from quarry.search.ranking import RankingConfig

EVAL_USER = SYNTHETIC_USER_PREFIX + "eval"  # excluded from suggestions and cache warm-up


class PipelineSystem(Protocol):
    """A search system of the evaluation: for a ranking configuration (None: the live one), a search
    that returns the first `size` results (the page `make eval` scores, or a whole window)."""

    def __call__(self, ranking: RankingConfig | None = None, size: int = K) -> evaluation.SearchFunction: ...


@contextlib.contextmanager
def pipeline_search(settings: Settings, artifacts: ArtifactStore | None = None) -> Iterator[PipelineSystem]:
    """The full pipeline as frontends get it: the search core the API runs, built the same way, in
    this process. One service serves every ranking variant: each search pins its configuration (cache
    keys carry the version, so variants never share pages). `artifacts`: the model store it reads
    (default: settings.artifacts_dir), for example one that pins a candidate version."""
    from quarry.search.assembly import offline_search_service
    from quarry.search.ranking import RankingSource, StaticRankingConfig
    from quarry.search.schemas import SearchRequest

    with offline_search_service(settings, artifacts) as service:
        live = service.ranking
        shopper = service.privacy.shopper(EVAL_USER, None)

        def system(ranking: RankingConfig | None = None, size: int = K) -> evaluation.SearchFunction:
            source: RankingSource = live if ranking is None else StaticRankingConfig(ranking)

            def search(query: str) -> tuple[list[str], int]:
                service.ranking = source
                request = SearchRequest(
                    q=query,
                    size=size,
                    user_id=shopper.user,
                    personalize=shopper.consent.personalization,
                    track=shopper.consent.tracking,
                )
                try:
                    response = service.search(request)
                except ValueError as exc:  # refused: empty or too long after normalization
                    raise RuntimeError(f"search {query!r} failed: {exc}") from exc
                return [r.product_id for r in response.results], response.total

            return search

        yield system

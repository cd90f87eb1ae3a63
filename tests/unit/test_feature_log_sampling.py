"""Feature-log sampling: by the query id, stable, the configured share of searches, and never a
shopper who opted out of tracking."""

from __future__ import annotations

import uuid

from quarry.ltr.feature_log import FeatureLog
from quarry.search.schemas import SearchRequest

TRACKED = SearchRequest(q="tent")


def log_with(share: float) -> FeatureLog:
    return FeatureLog(None, None, lambda request: None, share)  # type: ignore[arg-type]


def test_sampling_takes_the_share_of_query_ids_and_decides_each_id_the_same_way_every_time() -> None:
    ids = [uuid.uuid4().hex for _ in range(20_000)]
    five = log_with(0.05)
    chosen = [i for i in ids if five.sampled(TRACKED, i)]
    assert 0.04 < len(chosen) / len(ids) < 0.06  # 5 %, within about 7 standard errors
    assert all(five.sampled(TRACKED, i) for i in chosen)  # a replayed search is sampled as its original was
    assert not any(log_with(0.0).sampled(TRACKED, i) for i in ids[:1000])
    assert all(log_with(1.0).sampled(TRACKED, i) for i in ids[:1000])


def test_a_shopper_who_opted_out_of_tracking_is_never_sampled() -> None:
    untracked = SearchRequest(q="tent", track=False)
    assert not any(log_with(1.0).sampled(untracked, uuid.uuid4().hex) for _ in range(100))

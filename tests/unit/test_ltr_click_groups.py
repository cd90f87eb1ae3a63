"""Click groups from logged windows (pipelines/ltr/dataset.py): one group per query, its newest
logged search, and in the formula's order even when a learned model ordered the shown window (the
formula baseline is scored by example order)."""

from __future__ import annotations

from pipelines.ltr.click_model import PositionBasedModel
from pipelines.ltr.dataset import MIN_IMPRESSIONS, click_groups
from quarry.ltr.feature_log import FeatureRecord

FORMULA_AT = 1


def record(
    query_id: str, product: str, rank: int, formula: float, at: str = "2026-12-01T10:00:00Z"
) -> FeatureRecord:
    return FeatureRecord(
        query_id=query_id,
        product_id=product,
        query="desk lamp",
        at=at,
        now_millis=0,
        source="live",
        featureset="test",
        ranking_version="r1",
        model_version="ltr-1",
        window_rank=rank,
        features=[0.5, formula],
    )


MODEL = PositionBasedModel(
    examination={0: 1.0},
    attractiveness={"desk lamp": {"a": 0.9, "b": 0.1, "c": 0.5}},
    impressions={"desk lamp": {p: MIN_IMPRESSIONS for p in "abc"}},
    iterations=1,
    log_likelihood=0.0,
)


def test_a_window_a_model_ordered_is_put_back_in_the_formulas_order() -> None:
    # The model showed c, a, b; the formula had scored a > b > c.
    shown = [record("q1", "c", 1, 0.2), record("q1", "a", 2, 0.9), record("q1", "b", 3, 0.4)]
    (group,) = click_groups(shown, MODEL, FORMULA_AT)
    assert group.products == ["a", "b", "c"]
    assert group.labels == [4, 0, 2]  # round(4 * alpha), following its product
    (as_shown,) = click_groups(shown, MODEL)
    assert as_shown.products == ["c", "a", "b"]


def test_only_the_newest_logged_search_of_a_query_trains() -> None:
    older = [record("old", p, r, 1.0 - r / 10, at="2026-11-30T10:00:00Z") for r, p in enumerate("ab", 1)]
    newer = [record("new", p, r, 1.0 - r / 10) for r, p in enumerate("cab", 1)]
    (group,) = click_groups([*older, *newer], MODEL, FORMULA_AT)
    assert group.products == ["c", "a", "b"]

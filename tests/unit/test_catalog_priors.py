"""Cold-start priors: ratings shrunk by their number, reviews, freshness, stock."""

from __future__ import annotations

import datetime as dt

from quarry.catalog_priors import CatalogItem, CatalogPriors, PriorParameters

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
RECENT = "2026-11-01T00:00:00+00:00"
OLD = "2020-01-01T00:00:00+00:00"


def fitted(*items: CatalogItem, **parameters: float) -> CatalogPriors:
    model = CatalogPriors(PriorParameters(**parameters))  # type: ignore[arg-type]
    model.fit(items, NOW)
    return model


def test_many_good_reviews_beat_one_perfect_one() -> None:
    model = fitted(
        CatalogItem("one-review", "Home", rating=5.0, review_count=1, created_at=RECENT),
        CatalogItem("loved", "Home", rating=4.7, review_count=500, created_at=RECENT),
        CatalogItem("meh", "Home", rating=3.0, review_count=200, created_at=RECENT),
    )
    assert model.top("Home", 3) == ["loved", "one-review", "meh"]


def test_shrinkage_pulls_a_rating_towards_its_category_mean() -> None:
    """By hand: category mean (5*1 + 3*9)/10 = 3.2; strength 10; one 5-star review:
    (10*3.2 + 1*5)/11 = 3.3636; reviews term 3/4 + 1/4*log(2)/log(10); no date: freshness 1/2."""
    import math

    model = fitted(
        CatalogItem("a", "Toys", rating=5.0, review_count=1),
        CatalogItem("b", "Toys", rating=3.0, review_count=9),
        prior_strength=10.0,
    )
    expected = 3.3636364 / 5 * (0.75 + 0.25 * math.log(2) / math.log(10)) * 0.5
    assert abs(model.score(["a"])[0] - expected) < 1e-5


def test_a_newer_product_ranks_above_an_equal_older_one() -> None:
    model = fitted(
        CatalogItem("old", "Books", rating=4.5, review_count=100, created_at=OLD),
        CatalogItem("new", "Books", rating=4.5, review_count=100, created_at=RECENT),
    )
    assert model.top("Books", 2) == ["new", "old"]


def test_out_of_stock_products_are_never_recommended() -> None:
    model = fitted(
        CatalogItem("gone", "Home", rating=5.0, review_count=900, in_stock=False, created_at=RECENT),
        CatalogItem("here", "Home", rating=3.5, review_count=3, created_at=OLD),
    )
    assert model.top("Home", 5) == ["here"] and model.top(None, 5) == ["here"]


def test_lists_per_department_and_over_all_are_cut_at_top_k() -> None:
    items = [CatalogItem(f"h{n}", "Home", rating=4.0, review_count=n + 1) for n in range(5)]
    items += [CatalogItem(f"t{n}", "Toys", rating=4.0, review_count=n + 1) for n in range(5)]
    model = fitted(*items, top_k=3)
    assert model.top("Home", 10) == ["h4", "h3", "h2"]
    assert len(model.top(None, 10)) == 3
    assert model.top("Garden", 3) == []


def test_a_saved_model_loads_with_the_same_lists_and_scores() -> None:
    model = fitted(
        CatalogItem("a", "Home", rating=4.9, review_count=80, created_at=RECENT),
        CatalogItem("b", "Toys", rating=4.1, review_count=8, created_at=OLD),
    )
    loaded = CatalogPriors.load(model.save(), {"prior_strength": 20.0})
    assert loaded.top(None, 2) == model.top(None, 2) == ["a", "b"]
    assert loaded.score(["a", "b", "nope"]) == [*model.score(["a", "b"]), 0.0]

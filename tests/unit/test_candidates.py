"""Candidates come back from OpenSearch as doc values; these tests pin down how they become records."""

from quarry.adapters.search_engine import Hit
from quarry.search.candidates import from_docvalues


def docvalue_hit(**fields: list[object]) -> Hit:
    return Hit(id="", score=2.5, source={}, fields=fields)


def test_doc_values_become_a_flat_record_keyed_by_product_id() -> None:
    hit = from_docvalues(
        docvalue_hit(
            product_id=["P000042"],
            **{"title.keyword": ["Trail Runner 2"]},
            brand=["Northpeak"],
            category_path=["Sports > Running > Shoes"],
            price=[89.99],
            in_stock=[True],
            created_at=["1764288000000"],
        )
    )
    assert hit.id == "P000042" and hit.score == 2.5
    assert hit.source["title"] == "Trail Runner 2"  # title.keyword read back as the title
    assert hit.source["created_at"] == 1764288000000.0  # epoch millis, a number for freshness
    assert hit.source["price"] == 89.99 and hit.source["in_stock"] is True


def test_float_ratings_come_back_as_indexed_not_as_widened_float32() -> None:
    # 4.3 stored as float32 and widened to a double reads 4.300000190734863.
    hit = from_docvalues(docvalue_hit(product_id=["P1"], rating=[4.300000190734863]))
    assert hit.source["rating"] == 4.3
    assert (
        from_docvalues(docvalue_hit(product_id=["P1"], rating=[4.566999912261963])).source["rating"] == 4.567
    )


def test_missing_doc_values_stay_missing() -> None:
    hit = from_docvalues(docvalue_hit(product_id=["P1"], price=[], rating=[]))
    assert "price" not in hit.source and "rating" not in hit.source and "title" not in hit.source


def test_scaled_float_prices_come_back_in_cents() -> None:
    hit = from_docvalues(docvalue_hit(product_id=["P1"], price=[19.990000000000002]))
    assert hit.source["price"] == 19.99

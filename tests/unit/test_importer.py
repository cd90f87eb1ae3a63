from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.catalog.importer import Rejection, read_catalog
from pipelines.catalog.schema import Product

DATA = Path(__file__).resolve().parents[1] / "data"


def split(items):
    products = [i for i in items if isinstance(i, Product)]
    rejections = [(r.row, r.product_id, r.reason) for r in items if isinstance(r, Rejection)]
    return products, rejections


def test_csv_reports_each_bad_row_with_its_line_and_reason() -> None:
    products, rejections = split(list(read_catalog(DATA / "catalog_bad.csv", "csv")))
    assert [p.product_id for p in products] == ["C1", "C10"]
    assert rejections == [
        (3, "C2", "missing title"),
        (4, "C3", "price is not a number: 'abc'"),
        (5, "C4", "rating out of range [0, 5]: '7.5'"),
        (6, "C1", "duplicate product_id"),
        (7, "C6", "empty level in category_path: 'Home & Kitchen >  > Lighting'"),
        (8, "C7", "in_stock is not a boolean: 'maybe'"),
        (9, "C8", "review_count is not a whole number: '1.5'"),
        (10, "C9", "created_at is not an ISO 8601 date: 'yesterday'"),
    ]


def test_csv_fields_are_converted() -> None:
    products, _ = split(list(read_catalog(DATA / "catalog_bad.csv", "csv")))
    sofa = products[0]
    assert sofa.category_path == ["Home & Kitchen", "Furniture", "Sofas"]
    assert sofa.attributes == {"color": "gray"}
    assert (sofa.price, sofa.rating, sofa.review_count, sofa.in_stock) == (499.0, 4.5, 12, True)
    assert products[1].in_stock is True and products[1].created_at == "2023-01-02T10:00:00Z"


def test_jsonl_reports_bad_lines() -> None:
    products, rejections = split(list(read_catalog(DATA / "catalog_bad.jsonl", "jsonl")))
    assert [p.product_id for p in products] == ["J1", "J8"]
    assert [(row, pid) for row, pid, _ in rejections] == [
        (2, None),
        (3, "J3"),
        (4, None),
        (5, "J5"),
        (6, "J6"),
    ]
    reasons = [reason for _, _, reason in rejections]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1:] == [
        "price out of range [0, 1000000000.0]: -5",
        "a line is not a JSON object",
        "missing category_path",
        "attributes is not a JSON object",
    ]
    assert products[1].in_stock is False and products[1].category_path == ["Books", "Fiction"]


def test_wands_adapter() -> None:
    products, rejections = split(list(read_catalog(DATA / "wands_sample.tsv", "wands")))
    assert [p.product_id for p in products] == ["0", "1"]
    bed = products[0]
    assert bed.title == "solid wood platform bed"
    assert bed.category_path == ["Furniture", "Bedroom Furniture", "Beds & Headboards", "Beds"]
    assert bed.attributes == {
        "overallwidth-sidetoside": "64.7",
        "color": "white",
        "material": "solid wood",
        "product_class": "Beds",
    }
    assert (bed.rating, bed.review_count, bed.brand, bed.price) == (4.5, 15, "", None)
    assert rejections == [
        (4, "2", "missing product_name"),
        (5, "3", "product_features entry is not key:value: 'color'"),
        (6, "4", "average_rating out of range [0, 5]: '9.0'"),
        (7, "5", "missing category_path"),
    ]


def test_parquet(tmp_path: Path) -> None:
    table = pa.table(
        {
            "product_id": ["Q1", "Q2", None],
            "title": ["Trail bike", "Road bike", "Ghost"],
            "brand": ["Trek", "Giant", "X"],
            "category_path": [["Sports & Outdoors", "Cycling"], ["Sports & Outdoors", "Cycling"], ["Toys"]],
            "price": [899.0, None, 3.0],
            "attributes": [[("color", "red")], [], []],
        },
        schema=pa.schema(
            [
                ("product_id", pa.string()),
                ("title", pa.string()),
                ("brand", pa.string()),
                ("category_path", pa.list_(pa.string())),
                ("price", pa.float64()),
                ("attributes", pa.map_(pa.string(), pa.string())),
            ]
        ),
    )
    path = tmp_path / "catalog.parquet"
    pq.write_table(table, path)
    products, rejections = split(list(read_catalog(path, "parquet")))
    assert [(p.product_id, p.price, p.attributes) for p in products] == [
        ("Q1", 899.0, {"color": "red"}),
        ("Q2", None, {}),
    ]
    assert rejections == [(3, None, "missing product_id")]

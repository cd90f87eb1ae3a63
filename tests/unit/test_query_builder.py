from quarry.search.query_builder import boost_clauses, filter_clauses, search_body
from quarry.search.ranking import RankingConfig, Weights
from quarry.search.schemas import SearchRequest
from quarry.understanding.schemas import Entities

CONFIG = RankingConfig(
    version="t",
    window=200,
    freshness_half_life_days=180,
    field_boosts={"title": 3.0},
    minimum_should_match="2<75%",
    relaxed_minimum_should_match="1",
    entity_boosts={"brand": 2.0, "color": 1.0},
    weights={"default": Weights(1, 0, 0, 0)},
)


def test_explicit_parameters_become_filters() -> None:
    request = SearchRequest(
        q="x",
        category="Sneakers",
        brand=("Nike",),
        price_min=10,
        price_max=50,
        in_stock=True,
        attributes=(("color", "Red"),),
    )
    filters = filter_clauses(request)
    assert {"range": {"price": {"gte": 10, "lte": 50}}} in filters
    assert {"term": {"in_stock": True}} in filters
    assert {"term": {"attributes.color": "red"}} in filters
    assert len(filters) == 5


def test_entities_only_boost() -> None:
    entities = Entities(brand=("Nike",), color=("red",))
    body = search_body(
        "nike shoes",
        SearchRequest(q="nike shoes"),
        entities,
        CONFIG,
        start=0,
        size=10,
        minimum_should_match="2<75%",
        with_facets=False,
    )
    assert body["query"]["bool"]["filter"] == []
    assert body["query"]["bool"]["should"] == boost_clauses(entities, CONFIG.entity_boosts)
    assert {"term": {"brand": {"value": "Nike", "boost": 2.0}}} in body["query"]["bool"]["should"]


def test_relevance_sorts_by_score_and_other_orders_break_ties_on_product_id() -> None:
    body = search_body(
        "x",
        SearchRequest(q="x"),
        Entities(),
        CONFIG,
        start=0,
        size=10,
        minimum_should_match="1",
        with_facets=True,
    )
    assert "sort" not in body
    assert {"brand", "category", "price", "in_stock", "attr:color"} <= set(body["aggs"])
    cheapest = search_body(
        "x",
        SearchRequest(q="x", sort="price_asc"),
        Entities(),
        CONFIG,
        start=0,
        size=10,
        minimum_should_match="1",
        with_facets=False,
    )
    assert cheapest["sort"][-1] == {"product_id": "asc"}


def test_knn_filters_sit_inside_the_knn_search() -> None:
    """Efficient filtering: the hard filters go in `knn.embedding.filter`, so k neighbours are found
    among the products that pass them (a post-filter would shrink a window found without them)."""
    from quarry.search.query_builder import knn_body

    body = knn_body([0.1, 0.2], SearchRequest(q="x", brand=("Nike",), in_stock=True), k=50)
    knn = body["query"]["knn"]["embedding"]
    assert knn["k"] == 50 and body["size"] == 50 and knn["vector"] == [0.1, 0.2]
    filters = knn["filter"]["bool"]["filter"]
    assert {"term": {"in_stock": True}} in filters
    assert any("brand" in str(clause) for clause in filters)
    assert set(body["query"]) == {"knn"}  # nothing outside the k-NN clause filters afterwards
    assert "filter" not in knn_body([0.1], SearchRequest(q="x"), k=5)["query"]["knn"]["embedding"]


def test_each_routed_category_gets_its_own_knn_clause_and_share() -> None:
    """One k-NN search over several categories would give every place to the category nearest in the
    catalog model; one clause per category keeps each category's share, with the hard filters in each."""
    from quarry.search.query_builder import knn_by_category_body

    shares = {"Fashion > Bags": 25, "Books > Picture Books": 15}
    body = knn_by_category_body([0.3], SearchRequest(q="x", in_stock=True), shares)
    clauses = body["query"]["bool"]["should"]
    assert body["size"] == 40 and len(clauses) == 2
    for clause, (path, share) in zip(clauses, shares.items(), strict=True):
        knn = clause["knn"]["embedding"]
        assert knn["k"] == share and knn["vector"] == [0.3]
        filters = knn["filter"]["bool"]["filter"]
        assert {"term": {"category_path": path}} in filters and {"term": {"in_stock": True}} in filters

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from quarry.adapters.search_engine import Hit
from quarry.search.ranking import (
    Component,
    RankingConfig,
    Weights,
    freshness,
    load_config_file,
    personalize,
    rank,
    score_window,
)

NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
CONFIG_FILE = Path(__file__).resolve().parents[2] / "quarry" / "search" / "ranking.json"


def config(**weights: Weights) -> RankingConfig:
    return RankingConfig(
        version="t",
        window=200,
        freshness_half_life_days=100,
        field_boosts={"title": 1.0},
        minimum_should_match="1",
        relaxed_minimum_should_match="1",
        entity_boosts={},
        weights={"default": Weights(1.0, 0.0, 0.0, 0.0), **weights},
    )


def hit(pid: str, score: float, dept: str = "Books", pop: float = 0.0, created: str = "2026-11-28") -> Hit:
    return Hit(
        id=pid, score=score, source={"category_lvl1": dept, "popularity_score": pop, "created_at": created}
    )


def test_freshness_halves_every_half_life() -> None:
    assert freshness("2026-11-28", NOW, 100) == pytest.approx(1.0)
    assert freshness("2026-08-20", NOW, 100) == pytest.approx(0.5)  # 100 days earlier
    assert freshness("2026-05-12", NOW, 100) == pytest.approx(0.25, rel=1e-3)  # 200 days earlier
    assert freshness(None, NOW, 100) == 0.0 and freshness("not a date", NOW, 100) == 0.0


def test_text_score_is_min_max_normalized_within_the_window() -> None:
    ranked = rank([hit("a", 10.0), hit("b", 4.0), hit("c", 7.0)], config(), NOW, {})
    assert [(r.hit.id, r.breakdown.text.value) for r in ranked] == [("a", 1.0), ("c", 0.5), ("b", 0.0)]


def test_popularity_is_log_scaled_against_the_window_maximum() -> None:
    weights = Weights(text=0.0, popularity=1.0, freshness=0.0, affinity=0.0)
    ranked = rank(
        [hit("a", 1.0, "Toys", pop=99.0), hit("b", 1.0, "Toys", pop=9.0)], config(Toys=weights), NOW, {}
    )
    assert [r.hit.id for r in ranked] == ["a", "b"]
    assert ranked[1].breakdown.popularity.value == pytest.approx(0.5)  # log(10)/log(100)


def test_weights_follow_the_products_department_and_affinity_personalizes() -> None:
    cfg = config(Toys=Weights(text=0.5, popularity=0.0, freshness=0.0, affinity=0.5))
    hits = [hit("book", 10.0, "Books"), hit("toy", 9.0, "Toys")]
    plain = rank(hits, cfg, NOW, {})
    assert [r.hit.id for r in plain] == ["book", "toy"]
    assert plain[1].score == pytest.approx(0.0)  # toy: text 0 (window minimum) * 0.5, no affinity
    personal = rank(hits, cfg, NOW, {"Toys": 1.0})
    assert personal[0].breakdown.weights_for == "default"  # no Books entry in this config
    assert personal[1].breakdown.weights_for == "Toys" and personal[1].score == pytest.approx(0.5)


def test_shipped_config_weights_sum_to_one() -> None:
    shipped = load_config_file(CONFIG_FILE)
    assert "default" in shipped.weights
    for name, w in shipped.weights.items():
        assert w.text + w.popularity + w.freshness + w.affinity == pytest.approx(1.0), name


def test_a_known_users_product_affinity_overrides_category_affinity() -> None:
    cfg = config(Toys=Weights(text=0.5, popularity=0.0, freshness=0.0, affinity=0.5))
    hits = [hit("a", 10.0, "Toys"), hit("b", 10.0, "Toys")]
    ranked = rank(hits, cfg, NOW, {"Toys": 0.2}, {"b": 0.9})
    assert [r.hit.id for r in ranked] == ["b", "a"]
    assert ranked[0].breakdown.affinity.value == 0.9 and ranked[1].breakdown.affinity.value == 0.2


def test_freshness_reads_epoch_milliseconds_like_iso_dates() -> None:
    hundred_days_ago = dt.datetime(2026, 8, 20, tzinfo=dt.UTC).timestamp() * 1000
    assert freshness(hundred_days_ago, NOW, 100) == pytest.approx(0.5)
    assert freshness(NOW.timestamp() * 1000 + 5e6, NOW, 100) == pytest.approx(1.0)  # future: age 0


def test_breakdown_contributions_add_up_to_the_final_score() -> None:
    cfg = config(Toys=Weights(0.5, 0.3, 0.15, 0.05))
    ranked = rank([hit("a", 3.0, "Toys", pop=9.0), hit("b", 1.0, "Toys", pop=99.0)], cfg, NOW, {"Toys": 0.5})
    # By hand: text a=1, b=0; popularity log(10)/log(100) = 0.5 and 1; freshness 1 (created today);
    # affinity 0.5. a = 0.5 + 0.15 + 0.15 + 0.025, b = 0 + 0.3 + 0.15 + 0.025.
    assert [(r.hit.id, r.score) for r in ranked] == [("a", pytest.approx(0.825)), ("b", pytest.approx(0.475))]
    for item in ranked:
        parts = item.breakdown
        total = sum(c.contribution for c in (parts.text, parts.popularity, parts.freshness, parts.affinity))
        assert total == pytest.approx(item.score, abs=1e-5)
        assert parts.weights_for == "Toys" and parts.bm25 == item.hit.score
    assert ranked[1].breakdown.popularity == Component(1.0, 0.3, 0.3)


def test_configuration_versions_order_by_date_then_serial_number() -> None:
    from quarry.search.ranking import version_key

    ordered = ["2026-11-28.2", "2026-11-28.3", "2026-11-28.10", "2026-12-01.1"]
    assert sorted(reversed(ordered), key=version_key) == ordered


def test_the_similarity_floor_is_the_models_own_when_configured() -> None:
    config = msgspec.structs.replace(
        load_config_file(CONFIG_FILE),
        semantic_min_similarity=0.3,
        semantic_min_similarity_by_model={"all-mpnet-base-v2": 0.325},
    )
    assert config.semantic_floor("all-mpnet-base-v2") == 0.325
    assert config.semantic_floor("all-MiniLM-L6-v2") == 0.3  # not named: the general floor


def test_configs_without_per_model_floors_still_load(tmp_path: Path) -> None:
    shipped = msgspec.json.decode(CONFIG_FILE.read_bytes())
    shipped.pop("semantic_min_similarity_by_model", None)
    path = tmp_path / "ranking.json"
    path.write_bytes(msgspec.json.encode(shipped))
    assert load_config_file(path).semantic_floor("all-mpnet-base-v2") == shipped["semantic_min_similarity"]


def test_the_keyword_share_follows_what_the_query_is() -> None:
    from quarry.understanding.schemas import Entities

    config = msgspec.structs.replace(
        load_config_file(CONFIG_FILE),
        keyword_weight=0.1,
        keyword_weight_with_entities=0.5,
        keyword_weight_descriptive=0.0,
    )
    named = Entities(category=("Sneakers",))
    assert config.keyword_weight_for(named) == 0.5  # the catalog's own words: BM25 knows best
    assert config.keyword_weight_for(Entities()) == 0.1
    assert config.keyword_weight_for(Entities(), descriptive=True) == 0.0  # a description
    assert config.keyword_weight_for(named, descriptive=True) == 0.0


def test_a_query_is_descriptive_when_its_words_are_not_the_shops_or_match_only_apart() -> None:
    from quarry.search.ranking import is_descriptive
    from quarry.understanding.schemas import Entities

    nothing, named = Entities(), Entities(color=("red",))
    # Most words are not the shop's: a description however the keyword side fared.
    assert is_descriptive(0.25, 4, partial_keyword_match=False, entities=nothing)
    assert is_descriptive(0.4, 5, partial_keyword_match=False, entities=named)
    # The shop's words, found together by the strict match: a product name.
    assert not is_descriptive(0.5, 4, partial_keyword_match=False, entities=nothing)
    assert not is_descriptive(1.0, 3, partial_keyword_match=False, entities=nothing)
    # The shop's words found only apart, three or more of them, naming nothing: a description in
    # words the titles use one by one ("peace and quiet on a long flight").
    assert is_descriptive(0.5, 4, partial_keyword_match=True, entities=nothing)
    assert is_descriptive(1.0, 3, partial_keyword_match=True, entities=nothing)
    # ... but two words matched apart are a product the shop pairs otherwise ("wool sweater"), and a
    # named entity is the catalog's own term ("red velvet armchair cover").
    assert not is_descriptive(1.0, 2, partial_keyword_match=True, entities=nothing)
    assert not is_descriptive(1.0, 4, partial_keyword_match=True, entities=named)
    # One word names a thing, even one the shop does not know: no description to route.
    assert not is_descriptive(0.0, 1, partial_keyword_match=True, entities=nothing)


def test_only_a_description_uses_category_prototypes_and_only_one_in_words_widens_the_window() -> None:
    from quarry.search.ranking import CategoryUse

    config = msgspec.structs.replace(
        load_config_file(CONFIG_FILE), category_weight_descriptive=1.0, category_candidates_descriptive=20
    )

    def words() -> float:
        return 1.0

    def mash() -> float:
        return 0.0

    assert config.category_use(descriptive=False, language_share=words) is None  # the catalog's words
    assert config.category_use(descriptive=True, language_share=words) == CategoryUse(1.0, 20)
    assert config.category_use(descriptive=True, language_share=mash) == CategoryUse(1.0, 0)
    off = msgspec.structs.replace(config, category_weight_descriptive=0.0)
    assert off.category_use(descriptive=True, language_share=words) is None


def test_the_personal_stage_reorders_the_shared_ranking_and_ties_keep_the_window_order() -> None:
    # Equal text scores: every candidate ties on the shared terms (text 0.5 * 1.0 each after min-max
    # of equal scores) and the personal term alone decides; ties keep the candidates' order.
    weights = Weights(0.5, 0.0, 0.0, 0.5)
    cfg = config(Books=weights, Toys=weights)
    window = [hit("a", 3.0, "Books"), hit("b", 3.0, "Toys"), hit("c", 3.0, "Books")]
    shared = score_window(window, cfg, NOW)
    assert [r.hit.id for r in shared] == ["a", "b", "c"]
    assert {r.values[3] for r in shared} == {0.0}
    liked = personalize(shared, {"Toys": 0.8})
    assert [r.hit.id for r in liked] == ["b", "a", "c"]
    assert liked[0].score == pytest.approx(liked[1].score + 0.5 * 0.8)
    assert [r.hit.id for r in personalize(shared, {})] == ["a", "b", "c"]

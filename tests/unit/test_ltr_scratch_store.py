"""The scratch model store that bench-search and make eval-ltr try LTR models in: it reads every
other artifact of the real store, and nothing done to its `ltr` reaches the real one."""

from __future__ import annotations

import msgspec

from pipelines.ltr.pipeline_eval import fold_of, goals, headroom, window_oracle
from pipelines.ltr.scratch_store import newest_model, scratch_store, with_champion
from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.settings import Settings


def test_the_scratch_store_shares_other_artifacts_and_keeps_its_ltr_to_itself(tmp_path) -> None:
    real = LocalArtifactStore(tmp_path / "artifacts")
    als = real.publish("als", {"model.bin": b"factors"}, {"data": "window"})
    older = real.publish("ltr", {"model.json": b"[]"}, {"featureset": "v2"}, activate=False)
    newer = real.publish("ltr", {"model.json": b"[1]"}, {"featureset": "v2"}, activate=False)
    real.publish("ltr", {"model.json": b"[2]"}, {"featureset": "v1"}, activate=False)
    settings = msgspec.structs.replace(Settings(), artifacts_dir=str(real.root), var_dir=str(tmp_path))
    assert newest_model(real, "v2") == newer and older < newer

    with with_champion(settings, newer) as scratch:
        assert scratch.current("als") == als and scratch.read("als", als, "model.bin") == b"factors"
        assert scratch.current("ltr") == newer and scratch.versions("ltr") == [newer]
        scratch.publish("ltr", {"model.json": b"[3]"}, {"featureset": "v2"})
        root = scratch.root
    assert real.current("ltr") is None and len(real.versions("ltr")) == 3
    assert not root.exists() and real.read("als", als, "model.bin") == b"factors"
    with scratch_store(settings) as empty:
        assert empty.versions("ltr") == [] and empty.current("als") == als


def test_a_query_is_searched_with_its_folds_model_and_an_unseen_one_with_a_stable_fold() -> None:
    folds = {"office chair": 3}
    assert fold_of("office chair", folds) == 3
    assert fold_of("lamp", folds) == fold_of("lamp", {}) and 0 <= fold_of("lamp", folds) < 5


def test_goals_not_measured_are_not_counted_as_met() -> None:
    summary = {
        "whole_pipeline": {
            "systems": {"ltr_out_of_fold": {"ndcg_at_10": 0.91}, "formula": {"ndcg_at_10": 0.88}}
        },
        "time_split": None,
        "serving_cost": None,
    }
    assert goals(summary) == {
        "golden_ndcg_at_10_gain_at_least_0_02": True,
        "held_out_click_ndcg_gain_at_least_5pct": None,
        "serving_adds_at_most_1_5ms_cpu": None,
    }


def test_the_window_oracle_puts_graded_products_first_and_keeps_the_formulas_order_for_ties() -> None:
    def formula(query: str) -> tuple[list[str], int]:
        return ["a", "b", "c", "d", "e"], 42

    oracle = window_oracle(formula, {"lamp": {"d": 3, "b": 1, "e": 1, "x": 4}})
    # "x" is graded but not in the window: an oracle of the window cannot bring it in.
    assert oracle("lamp") == (["d", "b", "e", "a", "c"], 42)
    assert oracle("unjudged") == (["a", "b", "c", "d", "e"], 42)


def test_the_headroom_line_states_the_goals_share_of_what_reordering_can_give() -> None:
    overall = {"formula": {"ndcg_at_10": 0.88}, "window_oracle": {"ndcg_at_10": 0.96}}
    assert "+0.0800" in headroom(overall) and "25%" in headroom(overall)  # 0.02 / 0.08
    assert headroom({"formula": {"ndcg_at_10": 0.88}}) == ""

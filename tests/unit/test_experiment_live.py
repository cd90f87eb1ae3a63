"""Running experiments per request (quarry/experiments/live.py): a surface runs only the experiments
that change it, a shopper's exposure names each experiment's variant, and a variant's ranking
changes make a configuration of their own version, checked like any other."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import msgspec

from quarry.experiments.definitions import DEFINITIONS_DIR, EXAMPLES_DIR, Changes, Experiment, Variant
from quarry.experiments.live import Exposure, LiveExperiments, load_checked, merged, status, surfaces_of
from quarry.search.ranking import load_config_file
from quarry.settings import Settings

NOW = dt.datetime(2026, 12, 15, tzinfo=dt.UTC)
LIVE = load_config_file(Settings().ranking_config)


def experiment(name: str, treatment: Changes, layer: str = "search", unit: str = "user") -> Experiment:
    return Experiment(
        name=name,
        layer=layer,
        variants=[Variant("control", 0.5), Variant("treatment", 0.5, treatment)],
        start=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        stop=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        primary_metric="ctr",
        unit=unit,  # type: ignore[arg-type]
    )


WIDER = experiment("wider_window", Changes(ranking={"window": 200}))


def test_each_surface_runs_only_the_experiments_that_change_it() -> None:
    examples = LiveExperiments(load_checked(EXAMPLES_DIR, LIVE), "search")
    assert [e.name for e in examples.experiments] == []  # ALS personalization changes recommendations only
    recommendations = LiveExperiments(load_checked(EXAMPLES_DIR, LIVE), "recommendations")
    assert [e.name for e in recommendations.experiments] == ["als_personalization"]
    assert load_checked(DEFINITIONS_DIR, LIVE) == []  # none in force unless a team puts it there
    ltr = experiment("ltr_canary", Changes(model_aliases={"ltr": "canary"}))
    searched = LiveExperiments([ltr, WIDER], "search").experiments
    assert [e.name for e in searched] == ["ltr_canary", "wider_window"]  # another LTR model ranks search
    assert LiveExperiments([ltr, WIDER], "recommendations").experiments == []


def test_a_shopper_sees_one_variant_and_about_half_see_each() -> None:
    live = LiveExperiments([WIDER], "search")
    exposures = [live.exposure(f"user-{n}", None, NOW) for n in range(2_000)]
    assert all(e is not None and len(e.assignments) == 1 for e in exposures)
    treated = sum(1 for e in exposures if e is not None and e.assignments[0].variant == "treatment")
    assert 900 < treated < 1_100
    again = live.exposure("user-7", "another-session", NOW)
    assert again is not None and again == exposures[7]  # sticky: the user, whatever the session
    assert live.exposure(None, "session-1", NOW) is None  # a user experiment needs a user
    assert live.exposure("user-7", None, dt.datetime(2027, 2, 1, tzinfo=dt.UTC)) is None  # stopped


def test_a_variant_ranks_with_its_changes_under_a_version_of_its_own() -> None:
    live = LiveExperiments([WIDER], "search")
    exposures = [live.exposure(f"user-{n}", None, NOW) for n in range(50)]
    treatment = treated(live)
    control = next(e for e in exposures if e is not None and e.assignments[0].variant == "control")
    config = live.ranking(LIVE, treatment)
    assert config.window == 200 and LIVE.window != 200
    assert config.version == f"{LIVE.version}+wider_window=treatment"
    assert config.weights == LIVE.weights  # nothing else changes
    assert treatment.as_attributes() == {"wider_window": "treatment"}
    # A control that changes nothing ranks as the live configuration does, and shares its pages.
    assert live.ranking(LIVE, control) is LIVE


def test_retrieval_and_fusion_changes_apply_and_later_definitions_win() -> None:
    first = Changes(ranking={"window": 150}, retrieval="keyword")
    together = merged([first, Changes(ranking={"window": 120}, fusion="rrf")])
    assert together.ranking == {"window": 120}
    assert (together.retrieval, together.fusion) == ("keyword", "rrf")
    live = LiveExperiments([experiment("keyword_only", Changes(retrieval="keyword"))], "search")
    assert live.ranking(LIVE, treated(live)).retrieval == "keyword"


def test_a_change_the_ranking_cannot_take_is_refused_at_load(tmp_path: Path) -> None:
    bad = experiment("negative_window", Changes(ranking={"window": 0}))
    wrong_type = experiment("text_window", Changes(ranking={"window": "wide"}), layer="other")
    for one in (bad, wrong_type):
        (tmp_path / f"{one.name}.json").write_text(json.dumps(_as_json(one)))
    assert load_checked(tmp_path, LIVE) == []
    (tmp_path / "negative_window.json").unlink()
    (tmp_path / "text_window.json").unlink()
    (tmp_path / "wider.json").write_text(json.dumps(_as_json(WIDER)))
    loaded = load_checked(tmp_path, LIVE)
    assert [e.name for e in loaded] == ["wider_window"]


def test_a_change_the_live_configuration_cannot_take_leaves_it_unchanged() -> None:
    """Checked at load against the shipped configuration; a live one pushed since may refuse it."""
    live = LiveExperiments([experiment("all_keywords", Changes(ranking={"keyword_weight": 1.5}))], "search")
    assert live.ranking(LIVE, treated(live)) is LIVE


def treated(live: LiveExperiments) -> Exposure:
    exposures = (live.exposure(f"user-{n}", None, NOW) for n in range(50))
    return next(e for e in exposures if e is not None and e.assignments[0].variant == "treatment")


def _as_json(one: Experiment) -> object:
    return msgspec.to_builtins(one)


def test_an_experiments_status_and_surfaces_follow_its_dates_and_changes() -> None:
    assert status(WIDER, dt.datetime(2026, 11, 30, tzinfo=dt.UTC)) == "scheduled"
    assert status(WIDER, NOW) == "running"
    assert status(WIDER, dt.datetime(2027, 1, 1, tzinfo=dt.UTC)) == "ended"  # stop is exclusive
    assert surfaces_of(WIDER) == ["search"]
    both = experiment("both", Changes(ranking={"window": 150}, model_aliases={"als": "canary"}))
    assert surfaces_of(both) == ["recommendations", "search"]


def test_an_interleaving_experiment_runs_only_where_the_surface_can_merge() -> None:
    merge = msgspec.structs.replace(
        experiment("merge", Changes(recommendations="als"), unit="user"), design="interleaving"
    )
    assert LiveExperiments([merge], "recommendations").experiments == [merge]
    assert LiveExperiments([merge], "recommendations", interleaves=False).experiments == []
    exposure = LiveExperiments([merge], "recommendations").exposure("u1", None, NOW)
    assert exposure is not None and exposure.interleaving is not None
    assert (exposure.interleaving.a.name, exposure.interleaving.b.name) == ("control", "treatment")
    assert exposure.as_attributes() == {"merge": "interleaved"}

"""Experiment definitions are checked whole, and assignment is deterministic, sticky, mutually
exclusive within a layer, independent across layers, and splits traffic as the shares say."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from scipy.stats import chi2_contingency

from quarry.experiments.assignment import INTERLEAVED, assign, variant_of
from quarry.experiments.definitions import (
    EXAMPLES_DIR,
    Changes,
    Experiment,
    InvalidExperimentsError,
    Variant,
    layer_problems,
    load_definitions,
    problems,
)
from quarry.experiments.stats import sample_ratio
from quarry.search.ranking import RankingConfig

START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
STOP = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
DURING = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)
RANKING_FIELDS = RankingConfig.__struct_fields__


def experiment(name: str = "e", layer: str = "search", **fields: object) -> Experiment:
    defaults: dict[str, object] = {
        "variants": [Variant("control", 0.5), Variant("treatment", 0.5)],
        "start": START,
        "stop": STOP,
        "primary_metric": "ctr",
    }
    return Experiment(name=name, layer=layer, **{**defaults, **fields})  # type: ignore[arg-type]


def test_the_shipped_definitions_are_valid() -> None:
    shipped = load_definitions(RANKING_FIELDS) + load_definitions(RANKING_FIELDS, EXAMPLES_DIR)
    assert shipped, "at least the example definition"
    assert all(problems(e, RANKING_FIELDS) == [] for e in shipped)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"variants": [Variant("only", 1.0)]}, "at least two variants"),
        ({"variants": [Variant("a", 0.5), Variant("a", 0.5)]}, "unique"),
        ({"variants": [Variant("a", 0.5), Variant("b", 0.6)]}, "add up to 1"),
        ({"variants": [Variant("a", 1.0), Variant("b", 0.0)]}, "positive share"),
        ({"stop": START}, "stop must come after start"),
        ({"start": dt.datetime(2026, 12, 1)}, "time zone"),
        ({"layer_range": (0.6, 0.4)}, "layer_range"),
        (
            {"design": "interleaving", "variants": [Variant("a", 0.4), Variant("b", 0.3), Variant("c", 0.3)]},
            "exactly two variants",
        ),
        (
            {"variants": [Variant("a", 0.5), Variant("b", 0.5, Changes(ranking={"keyword_wieght": 0.2}))]},
            "unknown ranking fields: keyword_wieght",
        ),
    ],
)
def test_a_definition_the_service_cannot_run_is_refused_with_its_reason(
    fields: dict[str, object], reason: str
) -> None:
    found = problems(experiment(**fields), RANKING_FIELDS)
    assert any(reason in problem for problem in found), found


def test_a_bad_file_is_refused_with_every_problem(tmp_path: Path) -> None:
    good = msgspec.json.encode(experiment("good"))
    (tmp_path / "good.json").write_bytes(good)
    (tmp_path / "typo.json").write_bytes(good.replace(b'"primary_metric"', b'"primary_metirc"'))
    (tmp_path / "short.json").write_bytes(
        msgspec.json.encode(experiment("short", variants=[Variant("x", 1.0)]))
    )
    with pytest.raises(InvalidExperimentsError) as refused:
        load_definitions(RANKING_FIELDS, tmp_path)
    message = str(refused.value)
    assert "typo.json" in message and "short.json: an experiment needs at least two variants" in message


def test_a_date_without_a_time_zone_is_reported_not_compared(tmp_path: Path) -> None:
    # Two definitions of one layer, one of them with a naive start: its own problem is reported and
    # the layer check (which compares dates) leaves it out instead of failing.
    (tmp_path / "aware.json").write_bytes(msgspec.json.encode(experiment("aware")))
    naive = msgspec.json.encode(experiment("naive")).replace(
        b'"2026-12-01T00:00:00Z"', b'"2026-12-01T00:00:00"'
    )
    (tmp_path / "naive.json").write_bytes(naive)
    with pytest.raises(InvalidExperimentsError, match=r"naive\.json: start and stop need a time zone"):
        load_definitions(RANKING_FIELDS, tmp_path)


def test_experiments_of_a_layer_running_together_may_not_share_units() -> None:
    left = experiment("left", layer_range=(0.0, 0.5))
    right = experiment("right", layer_range=(0.5, 1.0))
    overlapping = experiment("overlapping", layer_range=(0.4, 0.6))
    later = experiment("later", start=STOP, stop=STOP + dt.timedelta(days=7))
    other_layer = experiment("other", layer="recommendations")
    assert layer_problems([left, right, later, other_layer]) == []
    found = layer_problems([left, right, overlapping])
    assert len(found) == 2 and all("intersecting" in problem for problem in found)
    assert "unique" in layer_problems([left, experiment("left", layer_range=(0.5, 1.0))])[0]


def test_assignment_is_deterministic_and_limited_to_the_experiments_dates() -> None:
    defined = [experiment()]
    first = assign(defined, "user-42", None, DURING)
    assert first == assign(defined, "user-42", "any-session", DURING + dt.timedelta(days=3))  # sticky
    assert len(first) == 1 and first[0].variant in ("control", "treatment")
    assert assign(defined, "user-42", None, START - dt.timedelta(seconds=1)) == []
    assert assign(defined, "user-42", None, STOP) == []
    assert assign(defined, None, None, DURING) == [] and assign(defined, "", None, DURING) == []


def test_each_experiment_hashes_the_id_of_its_own_unit() -> None:
    by_user, by_session = (
        experiment("by_user", layer="u"),
        experiment("by_session", layer="s", unit="session"),
    )
    # An anonymous shopper is in session experiments only; a user experiment never takes a session.
    anonymous = assign([by_user, by_session], None, "session-1", DURING)
    assert [a.experiment for a in anonymous] == ["by_session"]
    # A signed-in shopper keeps the user experiment's variant across sessions.
    first = assign([by_user], "user-7", "session-1", DURING)
    assert first == assign([by_user], "user-7", "session-2", DURING) and len(first) == 1


def test_the_split_follows_the_shares_and_layers_are_exclusive_inside_and_independent_across() -> None:
    search_a = experiment(
        "search_a", variants=[Variant("control", 0.7), Variant("b", 0.3)], layer_range=(0, 0.5)
    )
    search_b = experiment("search_b", layer_range=(0.5, 1.0))
    recs = experiment("recs", layer="recommendations")
    units = [f"user-{i}" for i in range(40_000)]
    per_unit = [
        {a.experiment: a.variant for a in assign([search_a, search_b, recs], u, None, DURING)} for u in units
    ]
    # Exclusive within the search layer, and the layer split is its ranges' 50/50.
    assert all(("search_a" in got) != ("search_b" in got) for got in per_unit)
    in_a = sum("search_a" in got for got in per_unit)
    assert not sample_ratio([in_a, len(units) - in_a], [0.5, 0.5]).mismatch
    # Inside an experiment, the variants' shares (70/30) hold.
    split = Counter(got["search_a"] for got in per_unit if "search_a" in got)
    assert not sample_ratio([split["control"], split["b"]], [0.7, 0.3]).mismatch
    # Every unit is in the recommendations layer's experiment, whatever its search layer says.
    assert all("recs" in got for got in per_unit)
    table = Counter(("search_a" in got, got["recs"]) for got in per_unit)
    contingency = [[table[(side, v)] for v in ("control", "treatment")] for side in (True, False)]
    assert chi2_contingency(contingency).pvalue > 0.001  # the two layers' splits are independent


def test_each_experiment_draws_its_own_split() -> None:
    one, two = experiment("one"), experiment("two")
    same = sum(variant_of(one, f"u{i}") == variant_of(two, f"u{i}") for i in range(20_000))
    assert 0.47 < same / 20_000 < 0.53  # independent coin flips agree half the time
    salted = experiment("two", salt="one")
    assert all(variant_of(one, f"u{i}") == variant_of(salted, f"u{i}") for i in range(1000))


def test_every_unit_of_an_interleaving_experiment_sees_both_teams() -> None:
    merged = experiment("merge", design="interleaving")
    assigned = {a.variant for n in range(200) for a in assign([merged], f"u{n}", None, DURING)}
    assert assigned == {INTERLEAVED}

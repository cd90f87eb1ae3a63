"""The validation run's design (pipelines/experiment_validation.py): its experiments are valid, share
one layer without overlapping, and put every session in exactly one of them."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from pipelines.experiment_validation import AA_TESTS, Look, definitions, sessions_needed
from quarry.experiments.assignment import assign
from quarry.experiments.definitions import layer_problems, problems
from quarry.search.ranking import RankingConfig

START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_the_run_defines_valid_experiments_that_never_share_a_session() -> None:
    experiments = definitions("t1", START)
    assert len(experiments) == AA_TESTS + 2
    assert all(problems(e, RankingConfig.__struct_fields__) == [] for e in experiments)
    assert layer_problems(experiments) == []
    during = START + dt.timedelta(hours=1)
    placed = Counter()
    for n in range(4000):
        [assignment] = assign(experiments, None, f"session-{n}", during)  # exactly one each
        placed["aa" if assignment.experiment.startswith("aa_") else assignment.experiment] += 1
    assert 1700 < placed["aa"] < 2300  # half the layer
    assert 800 < placed["ab_t1"] < 1200 and 800 < placed["il_t1"] < 1200  # a quarter each


def test_a_better_variant_counts_as_detected_only_from_where_it_stays_detected() -> None:
    def look(sessions: int, detected: bool) -> Look:
        return Look(sessions, 0.1, 0.01 if detected else 0.5, detected)

    assert (
        sessions_needed([look(10, False), look(20, True), look(40, False), look(80, True), look(90, True)])
        == 80
    )
    assert sessions_needed([look(10, True), look(20, True)]) == 10
    assert sessions_needed([look(10, True), look(20, False)]) is None

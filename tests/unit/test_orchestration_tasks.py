"""The pieces of the DAG tasks that need no Airflow: backfill windows and run-id file names."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.orchestration.tasks import parse_window, safe_name


def test_a_backfill_window_covers_whole_days_with_its_last_day_included() -> None:
    since, until = parse_window("2026-03-01", "2026-03-03")
    assert since == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert until == dt.datetime(2026, 3, 4, tzinfo=dt.UTC)


def test_a_one_day_backfill_is_one_day_long() -> None:
    since, until = parse_window("2026-03-01", "2026-03-01")
    assert until - since == dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "end"), [("2026-03-02", "2026-03-01"), ("2026-13-01", "2026-12-01"), ("", "x")]
)
def test_an_inverted_or_unreadable_window_is_refused(start: str, end: str) -> None:
    with pytest.raises(ValueError):
        parse_window(start, end)


def test_manual_run_ids_become_plain_file_names() -> None:
    assert safe_name("manual__2026-03-01T10:00:00+00:00") == "manual__2026-03-01T10_00_00_00_00"
    assert safe_name("../../etc/passwd") == ".._.._etc_passwd"
    assert safe_name("") == "run"


def test_a_backfill_that_ends_before_today_is_refused_before_anything_is_read() -> None:
    """It would write a past state over today's live features."""
    from pipelines.orchestration.tasks import backfill

    with pytest.raises(ValueError, match="ends before today"):
        backfill("2026-03-01", "2026-03-05", today=dt.date(2026, 3, 10))

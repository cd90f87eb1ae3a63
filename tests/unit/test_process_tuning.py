"""The API's interpreter settings: long-lived objects leave the collector's sight, young collections
are rarer, and the GIL is handed over sooner."""

import gc
import sys
from collections.abc import Iterator

import pytest

from quarry import process_tuning


@pytest.fixture
def restore_interpreter() -> Iterator[None]:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.set_threshold(*threshold)
    sys.setswitchinterval(interval)


def test_tuning_raises_the_young_threshold_and_shortens_the_switch_interval(restore_interpreter) -> None:
    # Start from CPython's defaults: an app started earlier in this process may have tuned already.
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    process_tuning.tune_for_latency()
    assert gc.get_threshold() == (process_tuning.YOUNG_THRESHOLD, 10, 10)
    assert sys.getswitchinterval() == pytest.approx(process_tuning.GIL_SWITCH_INTERVAL_S)
    assert process_tuning.YOUNG_THRESHOLD > 700 and process_tuning.GIL_SWITCH_INTERVAL_S < 0.005


def test_frozen_objects_are_not_examined_by_later_collections() -> None:
    long_lived = [{"terms": [i]} for i in range(5_000)]  # lists inside: tracked by the collector
    before = gc.get_freeze_count()
    process_tuning.freeze_long_lived("test")
    assert gc.get_freeze_count() - before >= len(long_lived)
    assert not any(obj is long_lived for obj in gc.get_objects())  # no generation holds it now

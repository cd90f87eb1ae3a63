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
    gc.unfreeze()
    gc.set_threshold(*threshold)
    sys.setswitchinterval(interval)


def test_tuning_raises_the_young_threshold_and_shortens_the_switch_interval(restore_interpreter) -> None:
    process_tuning.tune_for_latency()
    assert gc.get_threshold()[0] >= 10_000
    assert sys.getswitchinterval() == pytest.approx(0.001)


def test_frozen_objects_are_not_examined_by_later_collections(restore_interpreter) -> None:
    long_lived = [{"term": i} for i in range(50_000)]
    process_tuning.freeze_long_lived("test")
    assert gc.get_freeze_count() >= len(long_lived)
    # A full collection now only walks what was created after the freeze.
    assert not any(obj is long_lived for obj in gc.get_objects(generation=2))

"""Windows and what may vouch for them (quarry/rate_limits.py)."""

from __future__ import annotations

import pytest

from quarry.rate_limits import Window


def test_a_burst_makes_the_window_longer_so_the_rate_holds_on_average() -> None:
    window = Window.of("w", per_minute=100, burst=150)
    assert (window.capacity, window.window_ms) == (150, 90_000)


def test_a_window_can_be_covered_only_by_one_that_lasts_at_least_as_long() -> None:
    address = Window.of("address", per_minute=100, burst=150)  # 90 s
    text = Window.of("text", per_minute=20, cover=address)  # 60 s
    assert text.cover == "address"
    with pytest.raises(ValueError, match="shorter"):
        Window.of("long", per_minute=10, burst=20, cover=Window.of("short", per_minute=100))

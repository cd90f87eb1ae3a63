"""Interpreter settings for a latency-sensitive service process: garbage collection and GIL hand-off.

A full (generation 2) collection walks every tracked container in the process. The API holds large,
long-lived structures (the spelling dictionary and vocabulary, ALS factors, cached pages); collecting
them cost 50-75 ms per full collection and stalled every in-flight request of the worker, which was
most of the uncached p95 at concurrency 16 (docs/search-api.md#performance). Objects that live for the
whole process are moved out of the collector's sight once they are built; request garbage is still
collected normally.
"""

from __future__ import annotations

import gc
import logging
import sys

log = logging.getLogger("quarry.gc")

# Young-generation threshold: a search allocates a few thousand containers, so CPython's default of
# 700 runs a collection several times per request for objects that refcounting frees anyway.
YOUNG_THRESHOLD = 20_000


# How long a thread may hold the GIL while another waits (CPython default 5 ms). The event loop serves
# cached pages in a few hundred microseconds, but waited up to 5 ms whenever a worker thread (an
# uncached search, the UBI writer) held the GIL: 1 ms cut the cached p99 at concurrency 16 by about a
# quarter in bench-search.
GIL_SWITCH_INTERVAL_S = 0.001


def tune_for_latency() -> None:
    """Raise the young-generation GC threshold (older generations keep their defaults) and shorten
    the GIL switch interval."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def freeze_long_lived(reason: str) -> None:
    """Collect once, then exclude everything alive now from future collections. Call after start-up
    and after a hot reload swapped in a large artifact."""
    gc.collect()
    gc.freeze()
    log.info("long-lived objects frozen", extra={"reason": reason, "frozen": gc.get_freeze_count()})


def unfreeze() -> None:
    """At shutdown: give frozen objects back to the collector so extension modules can finalize
    cleanly (nanobind reports every instance still alive at exit as a leak)."""
    gc.unfreeze()

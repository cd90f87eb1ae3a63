"""A closed-loop load generator shared by the benchmarks: `concurrency` threads each take the next
item and wait for its answer before sending another, recording every latency."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class LoadResult(Generic[T]):
    def __init__(self, latencies_ms: list[float], errors: int, seconds: float) -> None:
        self.latencies_ms = latencies_ms
        self.errors = errors
        self.seconds = seconds

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def closed_loop(
    items: Sequence[T],
    total: int,
    concurrency: int,
    make_caller: Callable[[], Callable[[T], bool]],
    label: str,
) -> LoadResult[T]:
    """Send `total` requests cycling through `items`; each thread gets its own caller (connection)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    bar = tqdm(total=total, desc=label, unit="req", disable=None, leave=False)

    def worker() -> None:
        nonlocal errors
        call = make_caller()
        while (n := next(counter)) < total:
            started = time.perf_counter()
            ok = call(items[n % len(items)])
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1
                bar.update(1)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    bar.close()
    return LoadResult(latencies, errors, seconds)

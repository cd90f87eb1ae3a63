"""A background thread that keeps a process's copy of an index in step (consent, experiments): one
read at start-up, then one every `interval_s`. When the index does not answer, the copy keeps what
it knew and the log says so; nothing else stops the thread, the copy's only updater."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from quarry.records import RecordStoreError

log = logging.getLogger("quarry.refresher")


class Refresher:
    def __init__(self, what: str, refresh: Callable[[], Any], interval_s: float) -> None:
        """`what`: named in the thread and the log lines (`consent`, `experiments`)."""
        self._what = what
        self._refresh = refresh
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{what}-refresh", daemon=True)

    def start(self) -> None:
        try:
            self._refresh()
        except RecordStoreError as exc:
            log.error(
                f"{self._what} not loaded at start-up; retrying in the background", extra={"error": str(exc)}
            )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._refresh()
            except RecordStoreError as exc:
                log.warning(f"{self._what} not refreshed", extra={"error": str(exc)})
            except Exception:
                log.exception(f"{self._what} refresh failed unexpectedly")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

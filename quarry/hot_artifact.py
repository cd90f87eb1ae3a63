"""A loaded artifact that follows the model store's `CURRENT` pointer (the registry's champion), or
another alias (the shadow), without a restart.

Every service that serves an artifact (query understanding, suggestions, ALS) holds one: `get()` is
cheap (a clock check); at most once per interval one caller looks at the pointer and, when it moved,
loads the new version and swaps it in with a single reference assignment, so a request sees the old
artifact or the new one, never a mix. A version that fails to load is logged and the current one kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from quarry.adapters.artifact_store import ArtifactNotFoundError, ArtifactStore, version_built_at
from quarry.metrics import ARTIFACT_BUILT, artifact_served
from quarry.model_aliases import CHAMPION
from quarry.process_tuning import freeze_long_lived

log = logging.getLogger("quarry.artifacts")
T = TypeVar("T")
LOAD_ERRORS = (ArtifactNotFoundError, KeyError, ValueError, msgspec.DecodeError)


class HotArtifact(Generic[T]):
    def __init__(
        self,
        store: ArtifactStore,
        name: str,
        load: Callable[[str], T],
        reload_interval_s: float,
        initial: T,
        background: bool = False,
        follow: str = CHAMPION,
    ) -> None:
        """`background`: a due reload runs in a thread of its own while callers keep the current
        value, for artifacts whose load takes seconds (the query-understanding lexicon); the first
        load, at construction, is always in the caller."""
        self._background = background
        self._follow = follow
        self._initial = initial
        self._store = store
        self._name = name
        self._load = load
        self._interval_s = reload_interval_s
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.value = initial
        self.version: str | None = None
        self.reload()

    def reload(self) -> bool:
        """Load the pointer's version if it changed; True when a new version went live."""
        self._checked_at = time.monotonic()
        if self._follow == CHAMPION:
            version = self._store.current(self._name)
        else:  # another alias (the shadow): when it is removed, nothing is held any more
            version = self._store.aliases(self._name).get(self._follow)
            if version is None and self.version is not None:
                self.value, self.version = self._initial, None
                log.info(
                    "alias removed; artifact dropped", extra={"artifact": self._name, "alias": self._follow}
                )
                return True
        if version is None or version == self.version:
            return False
        try:
            value = self._load(version)
        except LOAD_ERRORS as exc:
            log.error(
                "artifact unusable; keeping the current one",
                extra={"artifact": self._name, "version": version, "error": str(exc)},
            )
            return False
        previous = self.version
        replaced = previous is not None
        self.value, self.version = value, version
        log.info("artifact loaded", extra={"artifact": self._name, "version": version, "alias": self._follow})
        if self._follow == CHAMPION:  # the served-version metrics are the champion's
            artifact_served(self._name, version, previous)
            built_at = version_built_at(version)
            if built_at is not None:
                ARTIFACT_BUILT.labels(self._name).set(built_at)
        if replaced:
            freeze_long_lived(f"reloaded {self._name}")  # start-up freezes once, after all services
        return True

    def get(self, allow_reload: bool = True) -> T:
        """`allow_reload=False` for callers on the event loop: the check reads the model store."""
        if (
            allow_reload
            and time.monotonic() - self._checked_at >= self._interval_s
            and self._lock.acquire(blocking=False)
        ):
            if self._background:
                self._checked_at = time.monotonic()  # one loader at a time, even before it starts
                threading.Thread(
                    target=self._reload_and_release, name=f"reload-{self._name}", daemon=True
                ).start()
            else:
                self._reload_and_release()
        return self.value

    def _reload_and_release(self) -> None:
        try:
            self.reload()
        finally:
            self._lock.release()

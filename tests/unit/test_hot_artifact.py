"""A background reload never holds up the caller that notices a new version."""

import threading
import time

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.hot_artifact import HotArtifact


def test_a_background_reload_keeps_serving_the_current_value(tmp_path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.publish("thing", {"v.txt": b"1"}, {})
    loading = threading.Event()
    release = threading.Event()

    def load(version: str) -> str:
        value = store.read("thing", version, "v.txt").decode()
        if value == "2":
            loading.set()
            release.wait(10)  # a slow load
        return value

    artifact = HotArtifact(store, "thing", load, reload_interval_s=0, initial="0", background=True)
    assert artifact.value == "1"  # the first load is in the caller
    store.publish("thing", {"v.txt": b"2"}, {})
    assert artifact.get() == "1"  # noticed; an inline load would block on `release` and return "2"
    assert loading.wait(10)
    assert artifact.get() == "1"  # still loading: the current value, no second loader
    release.set()
    deadline = time.monotonic() + 10
    while artifact.get() != "2" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert artifact.value == "2"

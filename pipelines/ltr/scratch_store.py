"""A model store to try LTR models in without touching the real one: every other artifact of the
real store is linked (not copied), and `ltr` starts empty, so whatever is published or activated
there is seen only by services built on this store (bench-search's LTR API, make eval-ltr)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quarry.adapters.artifact_store import LocalArtifactStore
from quarry.ltr.ranker import ARTIFACT
from quarry.settings import Settings


def newest_model(store: LocalArtifactStore, featureset: str) -> str | None:
    """The newest `ltr` version trained on this feature set."""
    for version in reversed(store.versions(ARTIFACT)):
        if store.metadata(ARTIFACT, version).get("featureset") == featureset:
            return version
    return None


@contextmanager
def scratch_store(settings: Settings) -> Iterator[LocalArtifactStore]:
    source = Path(settings.artifacts_dir)
    root = Path(tempfile.mkdtemp(prefix="ltr-scratch-", dir=settings.var_path))
    try:
        for artifact in source.iterdir():
            if artifact.is_dir() and artifact.name != ARTIFACT:
                (root / artifact.name).symlink_to(artifact.resolve(), target_is_directory=True)
        (root / ARTIFACT).mkdir()
        yield LocalArtifactStore(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def with_champion(settings: Settings, version: str) -> Iterator[LocalArtifactStore]:
    """A scratch store where this version of the real store's `ltr` models is champion."""
    with scratch_store(settings) as store:
        shutil.copytree(Path(settings.artifacts_dir) / ARTIFACT / version, store.root / ARTIFACT / version)
        store.activate(ARTIFACT, version)
        yield store

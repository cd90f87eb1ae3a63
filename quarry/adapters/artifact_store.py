"""The model/artifact store: versioned, immutable artifacts with a movable `CURRENT` pointer.

Pipelines publish (spelling dictionaries, vocabularies, later ALS factors, FAISS indices, LTR models);
the API reads the current version and notices when the pointer moves, so a new artifact goes live
without a restart. A version directory is complete before the pointer names it (write to a temporary
name, then rename), so a reader never sees half an artifact.

The registry's aliases (docs/model-lifecycle.md) live here too, because the service follows them:
`CURRENT` is the champion, `ALIASES` the other aliases, `ALIAS_LOG` every change with its reason.

The one exception to immutability is erasure (docs/privacy.md): a user's data is removed from every
version that holds it (`redact`), because keeping it in an old version would keep it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec

from quarry.model_aliases import ALIASES_FILE, CHAMPION, LOG_FILE, AliasChange

POINTER = "CURRENT"
METADATA = "metadata.json"


class ArtifactNotFoundError(LookupError):
    """No such artifact, version or file."""


@runtime_checkable
class ArtifactStore(Protocol):
    def publish(
        self, name: str, files: dict[str, bytes], metadata: dict[str, Any], activate: bool = True
    ) -> str: ...
    def current(self, name: str) -> str | None: ...
    def aliases(self, name: str) -> dict[str, str]: ...
    def set_alias(self, name: str, alias: str, version: str | None, reason: str) -> AliasChange: ...
    def alias_log(self, name: str) -> list[AliasChange]: ...
    def versions(self, name: str) -> list[str]: ...
    def read(self, name: str, version: str, filename: str) -> bytes: ...
    def local_file(self, name: str, version: str, filename: str) -> Path | None:
        """The file on this host's disk, for a reader that loads large files itself (ONNX Runtime
        keeps bytes it is given for the session's life: a second copy of a 436 MB model in every
        API worker). None: the store keeps no local file, so `read` it."""
        ...

    def metadata(self, name: str, version: str) -> dict[str, Any]: ...
    def activate(self, name: str, version: str) -> None: ...
    def redact(self, name: str, version: str, files: dict[str, bytes], metadata: dict[str, Any]) -> None: ...


VERSION_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


def new_version() -> str:
    """Sortable by time, unique across concurrent publishers."""
    return dt.datetime.now(dt.UTC).strftime(VERSION_TIME_FORMAT) + "-" + secrets.token_hex(3)


def version_built_at(version: str) -> float | None:
    """When a version was published (its name starts with the time), as a Unix timestamp."""
    try:
        stamp = dt.datetime.strptime(version.split("-", 1)[0], VERSION_TIME_FORMAT)
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC).timestamp()


class LocalArtifactStore:
    """`ArtifactStore` on a directory: <root>/<name>/<version>/<files>, <root>/<name>/CURRENT."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str, version: str) -> Path:
        path = self.root / name / version
        if not path.is_dir():
            raise ArtifactNotFoundError(f"{name}@{version}")
        return path

    def publish(
        self, name: str, files: dict[str, bytes], metadata: dict[str, Any], activate: bool = True
    ) -> str:
        """`activate=False`: stored, not served (a registry candidate)."""
        version = new_version()
        folder = self.root / name
        staging = folder / f".{version}.tmp"
        staging.mkdir(parents=True)
        for filename, content in files.items():
            (staging / filename).write_bytes(content)
        record = {**metadata, "name": name, "version": version, "files": sorted(files)}
        (staging / METADATA).write_bytes(msgspec.json.format(msgspec.json.encode(record), indent=2))
        staging.rename(folder / version)
        if activate:
            self.set_alias(name, CHAMPION, version, "published and served at once by its pipeline")
        return version

    def redact(self, name: str, version: str, files: dict[str, bytes], metadata: dict[str, Any]) -> None:
        """Rewrite some of a version's files in place and merge `metadata` into its record. The new
        directory is complete before it takes the old one's name; only a reader opening this version
        in the instant between the two renames misses it, which is why a redaction of the current
        version publishes a new one instead (quarry/user_data.py)."""
        folder = self._dir(name, version)
        staging = folder.with_name(f".{version}.redact-{secrets.token_hex(4)}")
        shutil.copytree(folder, staging)
        for filename, content in files.items():
            (staging / filename).write_bytes(content)
        record = {**self.metadata(name, version), **metadata}
        (staging / METADATA).write_bytes(msgspec.json.format(msgspec.json.encode(record), indent=2))
        retired = folder.with_name(f".{version}.retired-{secrets.token_hex(4)}")
        folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired)

    def activate(self, name: str, version: str) -> None:
        self._dir(name, version)
        pointer = self.root / name / POINTER
        temporary = pointer.with_name(f".{POINTER}.{secrets.token_hex(4)}")
        temporary.write_text(version)
        os.replace(temporary, pointer)

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """One alias change at a time per artifact, across processes."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".alias.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _stored_aliases(self, name: str) -> dict[str, str]:
        try:
            return msgspec.json.decode((self.root / name / ALIASES_FILE).read_bytes(), type=dict[str, str])
        except FileNotFoundError:
            return {}

    def aliases(self, name: str) -> dict[str, str]:
        aliases = {k: v for k, v in self._stored_aliases(name).items() if k != CHAMPION}
        current = self.current(name)
        if current:
            aliases[CHAMPION] = current
        return aliases

    def set_alias(self, name: str, alias: str, version: str | None, reason: str) -> AliasChange:
        """Point `alias` at `version` (None: remove it); the champion is `CURRENT`, which cannot be
        removed, only moved. Logged with its reason."""
        if version is not None:
            self._dir(name, version)
        with self._locked(name):
            previous = self.aliases(name).get(alias)
            if alias == CHAMPION:
                if version is None:
                    raise ValueError("the champion cannot be removed, only moved (roll back instead)")
                self.activate(name, version)
            else:
                stored = {k: v for k, v in self._stored_aliases(name).items() if k != CHAMPION}
                if version is None:
                    stored.pop(alias, None)
                else:
                    stored[alias] = version
                target = self.root / name / ALIASES_FILE
                temporary = target.with_name(f".{ALIASES_FILE}.{secrets.token_hex(4)}")
                temporary.write_bytes(msgspec.json.encode(stored))
                os.replace(temporary, target)
            change = AliasChange(name, alias, version, previous, reason, dt.datetime.now(dt.UTC).isoformat())
            with (self.root / name / LOG_FILE).open("ab") as log:
                log.write(msgspec.json.encode(change) + b"\n")
        return change

    def alias_log(self, name: str) -> list[AliasChange]:
        try:
            lines = (self.root / name / LOG_FILE).read_bytes().splitlines()
        except FileNotFoundError:
            return []
        return [msgspec.json.decode(line, type=AliasChange) for line in lines if line.strip()]

    def current(self, name: str) -> str | None:
        try:
            return (self.root / name / POINTER).read_text().strip() or None
        except FileNotFoundError:
            return None

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def read(self, name: str, version: str, filename: str) -> bytes:
        path = self._dir(name, version) / filename
        if not path.is_file():
            raise ArtifactNotFoundError(f"{name}@{version}/{filename}")
        return path.read_bytes()

    def local_file(self, name: str, version: str, filename: str) -> Path | None:
        path = self._dir(name, version) / filename
        if not path.is_file():
            raise ArtifactNotFoundError(f"{name}@{version}/{filename}")
        return path

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        record: dict[str, Any] = msgspec.json.decode(self.read(name, version, METADATA))
        return record

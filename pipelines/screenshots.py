"""Screenshots of the pages people look at, for the reports: Airflow's DAG list (behind its login)
and, with the registry, MLflow's model page. Taken with Debian's Chromium, headless, driven over the
DevTools protocol, so that a login token can go in as a cookie and the picture is taken once the
page's data has arrived (a fixed delay would catch half-loaded single-page apps).

`make screenshots` (needs `make airflow` and `make mlflow` running): reports/airflow-dags.png and
reports/mlflow-model.png.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from quarry.settings import PROJECT_ROOT, get_settings

log = logging.getLogger("pipelines.screenshots")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home on a closed network
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ScreenshotError(RuntimeError):
    """Chromium missing, the page never showed what it should, or the login failed."""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError(
        "Chromium is missing: sudo apt-get install chromium (make screenshots installs it as root)"
    )


class DevTools:
    """The few DevTools calls a screenshot needs, over one page's WebSocket."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._connection.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._connection.recv())
            if reply.get("id") == message_id:  # events in between are not needed
                if "error" in reply:
                    raise ScreenshotError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result


async def _capture(
    debugger: str, url: str, path: Path, wait_for: str, cookies: list[dict[str, Any]], timeout_s: float
) -> None:
    import websockets

    page = httpx.put(f"{debugger}/json/new?about:blank", timeout=10).json()
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as connection:
        tools = DevTools(connection)
        await tools.call("Network.enable")
        for cookie in cookies:
            await tools.call("Network.setCookie", **cookie)
        await tools.call(
            "Emulation.setDeviceMetricsOverride", width=1440, height=900, deviceScaleFactor=1, mobile=False
        )
        await tools.call("Page.enable")
        await tools.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        check = f"document.body !== null && document.body.innerText.includes({json.dumps(wait_for)})"
        while not (await tools.call("Runtime.evaluate", expression=check))["result"].get("value"):
            if time.monotonic() > deadline:
                raise ScreenshotError(f"{url} did not show {wait_for!r} within {timeout_s:.0f} s")
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # let the last requests render (charts, counts)
        shot = await tools.call("Page.captureScreenshot", format="png")
    path.write_bytes(base64.b64decode(shot["data"]))


def capture(
    url: str, path: Path, wait_for: str, cookies: list[dict[str, Any]] | None = None, timeout_s: float = 60
) -> Path:
    """Open `url` in a fresh headless Chromium, wait until its text contains `wait_for`, save a PNG."""
    # Chromium's helpers (crashpad, the GPU and network processes) may still write into the profile
    # for a moment after the browser exits: the whole process group is stopped, and a profile file
    # that appears during the cleanup is left in the temporary directory rather than failing the shot.
    with tempfile.TemporaryDirectory(prefix="quarry-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                chromium(),
                *CHROMIUM_FLAGS,
                # Chromium refuses to run as root with its sandbox (no user namespaces for it there).
                *(["--no-sandbox"] if os.geteuid() == 0 else []),
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ScreenshotError("Chromium did not start its DevTools endpoint")
                time.sleep(0.1)
            port = port_file.read_text().splitlines()[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            asyncio.run(_capture(f"http://127.0.0.1:{port}", url, path, wait_for, cookies or [], timeout_s))
        finally:
            _stop_group(process)
    return path


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def airflow_dags(path: Path) -> Path:
    """The DAG list of `make airflow`, logged in as its admin (the JWT in the `_token` cookie the UI
    reads)."""
    from pipelines.orchestration.environment import ADMIN_USER, admin_password

    settings = get_settings()
    base = f"http://127.0.0.1:{settings.airflow_port}"
    response = httpx.post(
        f"{base}/auth/token", json={"username": ADMIN_USER, "password": admin_password(settings)}, timeout=10
    )
    if response.status_code not in (200, 201):
        raise ScreenshotError(f"Airflow login failed: {response.status_code} {response.text[:200]}")
    token = response.json()["access_token"]
    cookie = {"name": "_token", "value": token, "url": f"{base}/", "httpOnly": False}
    return capture(f"{base}/dags", path, wait_for="popularity", cookies=[cookie])


def mlflow_model(path: Path, model: str = "quarry-als") -> Path:
    """The registered model's page of `make mlflow`: its versions with their aliases."""
    base = f"http://127.0.0.1:{get_settings().mlflow_port}"
    return capture(f"{base}/#/models/{model}", path, wait_for="champion")


PAGES = {"airflow": (airflow_dags, "airflow-dags.png"), "mlflow": (mlflow_model, "mlflow-model.png")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.screenshots")
    parser.add_argument("page", choices=sorted(PAGES))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    take, name = PAGES[args.page]
    try:
        print(take(args.out or PROJECT_ROOT / "reports" / name))
    except (ScreenshotError, httpx.HTTPError) as exc:
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

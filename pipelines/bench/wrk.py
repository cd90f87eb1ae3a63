"""Closed-loop HTTP load with wrk (Debian's `wrk`, written in C).

The Python harness (load.py) spends CPU and GIL time of its own: at concurrency 16 on two cores its
threads queue behind each other and the latency it records includes that wait. wrk measures the
servers, not the client, so the HTTP sides of a benchmark (the API, and raw OpenSearch over the same
HTTP) are driven by it with the same request list.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import msgspec


class WrkMissingError(RuntimeError):
    """wrk is not installed (ops/ensure-system-packages installs it)."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    body: str = ""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    """Sent with the request, e.g. the API key."""


class WrkResult(msgspec.Struct):
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def qps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRK_JSON {"requests":%d,"errors":%d,"seconds":%.6f,"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def _long_string(text: str) -> str:
    """A Lua long-bracket literal: no escaping needed, whatever the query contains."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def lua_script(requests: list[HttpRequest]) -> str:
    entries = ",\n".join(
        "{"
        + ", ".join(
            [
                _long_string(r.method),
                _long_string(r.path),
                _long_string(r.body) if r.body else "nil",
                _long_string(r.content_type),
                "{" + ", ".join(f"[ {_long_string(k)} ] = {_long_string(v)}" for k, v in r.headers) + "}",
            ]
        )
        + "}"
        for r in requests
    )
    return f"""
local specs = {{
{entries}
}}
local prepared = {{}}
local n = 0
function init(args)
  for i, s in ipairs(specs) do
    local headers = s[5]
    if s[3] then headers["Content-Type"] = s[4] end
    prepared[i] = wrk.format(s[1], s[2], headers, s[3])
  end
end
function request()
  n = n % #prepared + 1
  return prepared[n]
end
{_DONE}
"""


def run_wrk(base_url: str, requests: list[HttpRequest], concurrency: int, seconds: int) -> WrkResult:
    """`concurrency` keep-alive connections (closed loop), cycling through `requests`."""
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkMissingError("wrk is not installed: apt-get install wrk (make bench-search installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(lua_script(requests))
        threads = min(2, concurrency)
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                binary,
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                base_url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    out = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed against {base_url} (exit {done.returncode}): {done.stderr or out}")
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    return msgspec.json.decode(line.removeprefix("WRK_JSON "), type=WrkResult)

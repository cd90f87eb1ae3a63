"""API processes for benchmarks: `python -m api` on a free port with the bench's environment."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from quarry.settings import PROJECT_ROOT, Settings

API_START_TIMEOUT_S = 300.0
BENCH_LIMIT = 100_000_000
LOG_KEEP_S = 86_400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_api(cache_ttl_s: int, **extra_env: str) -> tuple[subprocess.Popen[bytes], int]:
    """Starts the API without waiting for it (start several, then `wait_ready` for each)."""
    port = free_port()
    env = {
        **os.environ,
        "QUARRY_API_PORT": str(port),
        "QUARRY_SEARCH_CACHE_TTL_S": str(cache_ttl_s),
        "QUARRY_LOG_LEVEL": "WARNING",
        "QUARRY_CACHE_WARM_QUERIES": "0",
        # Limits stay on (their cost is measured) but far above what one load generator sends.
        "QUARRY_RATE_LIMIT_IP_SEARCH_PER_MINUTE": str(BENCH_LIMIT),
        "QUARRY_RATE_LIMIT_IP_SEARCH_BURST": str(BENCH_LIMIT),
        # wrk repeats a small mix of searches: the repeated-query window (abuse protection) stays
        # in the Redis call, but must not refuse them.
        "QUARRY_ABUSE_SAME_QUERY_PER_MINUTE": str(BENCH_LIMIT),
        **extra_env,
    }
    log = log_file(port)
    log.parent.mkdir(parents=True, exist_ok=True)
    for old in log.parent.glob("bench-api-*.log"):  # a day is long enough to read a failure's log
        if time.time() - old.stat().st_mtime > LOG_KEEP_S:
            old.unlink(missing_ok=True)
    with log.open("wb") as sink:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=sink,  # the service logs JSON lines to stdout
            stderr=subprocess.STDOUT,
        )
    return process, port


def log_file(port: int) -> Path:
    """Where a launched API's log goes: a start that fails or hangs must be explainable afterwards
    (a CI run only keeps what the test printed)."""
    return Settings().var_path / "log" / f"bench-api-{port}.log"


def log_tail(port: int, lines: int = 20) -> str:
    try:
        text = log_file(port).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    """Each worker loads the query encoders (mpnet for the category router too), the spelling
    dictionary and the LTR model before it answers: about 20 s for two workers on two idle cores,
    minutes when the machine is busy."""
    deadline = time.monotonic() + API_START_TIMEOUT_S
    answer = "no answer"  # an API that answers 503 (no products alias, say) is up but never ready
    while time.monotonic() < deadline and process.poll() is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/health/ready")
            response = connection.getresponse()
            if response.status == 200:
                return
            answer = f"{response.status}: {response.read(2000).decode(errors='replace')}"
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    code = process.poll()
    if code is None:
        process.terminate()
    reason = (
        f"exited with status {code}"
        if code is not None
        else f"was not ready in {API_START_TIMEOUT_S:.0f} s (last /health/ready: {answer})"
    )
    raise RuntimeError(f"the API {reason}; {log_file(port)} ends:\n{log_tail(port)}")


def start_api(cache_ttl_s: int, **extra_env: str) -> tuple[subprocess.Popen[bytes], int]:
    process, port = launch_api(cache_ttl_s, **extra_env)
    wait_ready(process, port)
    return process, port


def stop_api(process: subprocess.Popen[bytes]) -> None:
    """Idempotent: a bench stops each API when its part is done and again, for any it missed, when
    it fails (a left-over API holds about 2.7 GB for two workers)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def started_api(stack: ExitStack, cache_ttl_s: int, **extra_env: str) -> tuple[subprocess.Popen[bytes], int]:
    """An API that `stack` stops when it closes, even when it never became ready."""
    process, port = launch_api(cache_ttl_s, **extra_env)
    stack.callback(stop_api, process)
    wait_ready(process, port)
    return process, port

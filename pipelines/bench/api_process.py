"""API processes for benchmarks: `python -m api` on a free port with the bench's environment."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time

from quarry.settings import PROJECT_ROOT

API_START_TIMEOUT_S = 180.0
BENCH_LIMIT = 100_000_000


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
    process = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


def wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    """Each worker loads the query encoders (mpnet for the category router too) before it answers:
    about 25 s on two busy cores."""
    deadline = time.monotonic() + API_START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    code = process.poll()
    if code is not None:  # its stderr went nowhere: say how to see it
        raise RuntimeError(
            f"the API exited with status {code} before it was ready (run `python -m api` to see why)"
        )
    process.terminate()
    raise RuntimeError(f"the API did not become ready within {API_START_TIMEOUT_S:.0f} s")


def start_api(cache_ttl_s: int, **extra_env: str) -> tuple[subprocess.Popen[bytes], int]:
    process, port = launch_api(cache_ttl_s, **extra_env)
    wait_ready(process, port)
    return process, port

"""Benchmark APIs stop when their part is done and when the bench fails: a left-over API kept
two workers' memory (about 2.7 GB) after a failed `make bench-search`."""

from __future__ import annotations

import subprocess
from contextlib import ExitStack

import pytest

from pipelines.bench import api_process
from pipelines.bench.api_process import started_api, stop_api


def test_stopping_an_api_twice_is_harmless() -> None:
    process = subprocess.Popen(["sleep", "60"])
    stop_api(process)
    assert process.returncode is not None
    stop_api(process)  # the bench's stack stops every API again when it closes


def test_an_api_that_never_gets_ready_is_stopped_with_the_bench(monkeypatch) -> None:
    launched: list[subprocess.Popen[bytes]] = []

    def launch(cache_ttl_s: int, **extra_env: str) -> tuple[subprocess.Popen[bytes], int]:
        launched.append(subprocess.Popen(["sleep", "60"]))  # up, but never answers
        return launched[-1], 1

    def never_ready(process: subprocess.Popen[bytes], port: int) -> None:
        raise RuntimeError("the API was not ready")

    monkeypatch.setattr(api_process, "launch_api", launch)
    monkeypatch.setattr(api_process, "wait_ready", never_ready)
    with pytest.raises(RuntimeError, match="not ready"), ExitStack() as stack:
        started_api(stack, 0)
    assert launched[0].poll() is not None


def test_a_start_that_fails_says_why() -> None:
    with pytest.raises(RuntimeError, match="exited with status"), ExitStack() as stack:
        started_api(stack, 0, QUARRY_API_WORKERS="two")  # settings refuse it before serving

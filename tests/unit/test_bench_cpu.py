"""The benchmark's CPU accounting: it finds a process's children and counts the CPU they burn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.bench.cpu import cpu_seconds, pid_from_file, process_tree

# A parent that starts a child which burns CPU until ~0.5 s of it is used, then both exit.
BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
PARENT = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {BURN!r}])\n"


def test_the_tree_holds_the_children_and_their_cpu_is_counted() -> None:
    with subprocess.Popen([sys.executable, "-c", PARENT]) as parent:
        tree: list[int] = []
        while parent.poll() is None and len(tree) < 2:
            tree = process_tree(parent.pid)
            time.sleep(0.01)
        assert len(tree) == 2 and tree[0] == parent.pid
        child = tree[1]
        used = 0.0
        while parent.poll() is None:
            used = max(used, cpu_seconds([child]))
            time.sleep(0.01)  # leave the cores to the child
    assert used >= 0.3  # most of the child's burn was seen before it exited


def test_a_pid_file_of_a_live_or_gone_process(tmp_path: Path) -> None:
    live = tmp_path / "live.pid"
    live.write_text(f"{os.getpid()}\n")
    assert pid_from_file(live) == os.getpid()
    gone = tmp_path / "gone.pid"
    with subprocess.Popen([sys.executable, "-c", "pass"]) as finished:
        finished.wait()
    gone.write_text(str(finished.pid))
    assert pid_from_file(gone) is None
    assert pid_from_file(tmp_path / "missing.pid") is None

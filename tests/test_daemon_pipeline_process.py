"""``spokehub serve`` runs the pipeline in a child process that lives and dies with it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from .daemon import WRITE_KEY, Daemon, free_port, write_project

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc"),
]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def send(daemon: Daemon, n: int) -> None:
    r = httpx.post(
        f"{daemon.url}/v1/track",
        json={"userId": f"u{n}", "event": "Tick", "messageId": f"m-{n}"},
        auth=(WRITE_KEY, ""),
        timeout=10,
    )
    assert r.status_code == 200


def test_the_pipeline_process_processes_and_stops_with_the_daemon(tmp_path):
    port = free_port()
    daemon = Daemon(write_project(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", port), port)
    daemon.start()
    assert daemon.proc is not None
    kids = children(daemon.proc.pid)
    assert len(kids) == 1
    send(daemon, 1)
    daemon.wait_idle(60)  # processed by the child: the daemon has no pipeline thread
    assert daemon.stop() == 0
    assert wait_gone(kids[0])


def test_a_killed_daemon_leaves_no_pipeline_process_behind(tmp_path):
    port = free_port()
    daemon = Daemon(write_project(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", port), port)
    daemon.start()
    assert daemon.proc is not None
    (child,) = children(daemon.proc.pid)
    send(daemon, 1)
    daemon.kill()  # SIGKILL: no chance to stop the child; its stdin closes instead
    assert wait_gone(child)
    # A new daemon on the same store finishes what was acknowledged.
    daemon = Daemon(daemon.config, port).start()
    try:
        daemon.wait_idle(60)
    finally:
        assert daemon.stop() == 0

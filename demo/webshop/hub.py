"""The hub as its user runs it: ``spokehub`` commands and ``spokehub serve`` in the
project's folder, each a process of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

#: The spoke distributions the scenario loads (the repository ships more).
PLUGINS = "shopify,files,hubspot,meta_audiences,klaviyo"
ADMIN_TOKEN = "webshop-demo-admin-token"
WRITE_KEY = "webshop-demo-write-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(done: Callable[[], Any], seconds: float = 60.0, every: float = 0.05) -> Any:
    """Poll ``done`` until it answers something truthy, and answer that.

    :raises TimeoutError: after ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while True:
        found = done()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {seconds:.0f} s")
        time.sleep(every)


class Hub:
    """One project folder, its commands and its daemon.

    :param folder: the project (``spokehub.yaml`` and ``.env``).
    :param log: where the daemon's log lines go (JSON, one a line).
    """

    def __init__(self, folder: Path, log: Path | None = None) -> None:
        self.folder = folder
        self.log = log or folder / "daemon.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(timeout=30)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
        env.update(
            SPOKEHUB_PLUGINS=PLUGINS,
            SPOKEHUB_ADMIN_TOKEN=ADMIN_TOKEN,
            WEBSITE_WRITE_KEY=WRITE_KEY,
            COLUMNS="110",  # the tables the commands print fit the demo's console
        )
        env.update(extra)
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``spokehub ARGS`` in the project folder; raises on a non-zero exit."""
        result = subprocess.run(
            [sys.executable, "-m", "spokehub", *args],
            cwd=self.folder,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"spokehub {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}"
            )
        return result

    def start(self, clock_offset: str | None = None) -> None:
        """``spokehub serve``, on the activation clock moved by ``clock_offset`` (``3d``),
        until ``/readyz`` answers."""
        extra = {"SPOKEHUB_CLOCK_OFFSET": clock_offset} if clock_offset else {}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "spokehub",
                "--log-format",
                "json",
                "serve",
                "--port",
                str(self.port),
            ],
            cwd=self.folder,
            env=self.env(**extra),
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            # Its pipeline process joins the group, so nothing outlives a failed run.
            process_group=0,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spokehub serve exited {self.proc.returncode}; see {self.log}")
            try:
                if self.client.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"spokehub serve was not ready in 120 s; see {self.log}")

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; answers the exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -9
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.kill()
        self.client.close()

    # -- HTTP ----------------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return self.client.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def segment(self, batch: list[dict[str, Any]]) -> httpx.Response:
        return self.client.post(f"{self.url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))

    def webhook_url(self, connection: str) -> str:
        return f"{self.url}/v1/webhooks/{connection}"

    def lanes(self) -> list[dict[str, Any]]:
        """Every delivery lane's status (``GET /v1/deliveries/status``)."""
        answer = self.admin("GET", "/v1/deliveries/status")
        answer.raise_for_status()
        return list(answer.json())

    def lane(self, connection: str) -> dict[str, Any]:
        return next(lane for lane in self.lanes() if lane["connection"] == connection)

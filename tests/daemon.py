"""Running a real ``spokehub serve`` in a subprocess for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

WRITE_KEY = "wk-e2e"
ADMIN = "admin-e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(done: Callable[[], Any], seconds: float = 60) -> None:
    """Poll ``done`` until it is truthy or ``seconds`` have passed; the test's own
    assertions then say what did not arrive."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


def hub_env(**settings: str) -> dict[str, str]:
    """What a hub process a test starts sees: the test's environment without its own
    ``SPOKEHUB_`` settings, and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
    env.update(settings)
    return env


def spokehub(config: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``spokehub -c config args…`` run to its end as a process in the project's folder."""
    return subprocess.run(
        [sys.executable, "-m", "spokehub", "-c", str(config), *args],
        env=dict(env),
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def hub_rows(directory: Path, sql: str) -> list[tuple[Any, ...]]:
    """What ``sql`` reads from the project's SQLite store (``hub.db`` in ``directory``)."""
    engine = create_engine(f"sqlite:///{directory / 'hub.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def write_project(
    directory: Path, store_url: str, port: int, server: dict[str, Any] | None = None
) -> Path:
    """A project file with one HTTP source; ``server`` adds to its server settings."""
    path = directory / "spokehub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": store_url},
                "server": {
                    "host": "127.0.0.1",
                    "port": port,
                    "admin_token": ADMIN,
                    **(server or {}),
                },
                "connections": {"web": {"kind": "source", "write_keys": [WRITE_KEY]}},
            }
        )
    )
    return path


class Daemon:
    """One ``spokehub serve`` process on a free port."""

    def __init__(
        self,
        config: Path,
        port: int,
        plugins: str = "none",
        env: dict[str, str] | None = None,
        log: Path | None = None,
        args: Sequence[str] = (),
    ) -> None:
        """:param log: a file that gets everything the daemon writes (its JSON log lines),
        for tests of what reaches a log.
        :param args: more options of ``serve``."""
        self.args = list(args)
        self.config = config
        self.log = log
        self.plugins = plugins
        #: Set in the daemon's environment beyond the test's own (``SPOKEHUB_`` ones too).
        self.env = dict(env or {})
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> Daemon:
        """Start it and wait until ``/readyz`` answers; a daemon that does not get there is
        killed (with its pipeline process) before the error is raised. The timeout is
        generous because a start imports two processes, which a busy machine slows down."""
        # SPOKEHUB_PLUGINS "none": HTTP sources only.
        env = hub_env(SPOKEHUB_PLUGINS=self.plugins, **self.env)
        sink = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "spokehub",
                "-c",
                str(self.config),
                "--log-format",
                "json",
                "serve",
                "--port",
                str(self.port),
                *self.args,
            ],
            env=env,
            cwd=self.config.parent,
            stdout=sink,
            stderr=sink,
            # Its own process group, which its pipeline process joins: kill(whole=True)
            # ends both in one signal, as a power cut or an OOM kill of the service would.
            process_group=0,
        )
        if self.log is not None:
            sink.close()  # the child holds its own copy
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill(whole=True)
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("daemon did not become ready")

    def kill(self, whole: bool = False) -> None:
        """SIGKILL the daemon; with ``whole``, its pipeline process too, in the same
        instant (otherwise that one sees its input end and stops after its batch)."""
        assert self.proc is not None
        if whole:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and the exit code; a daemon still running after 30 s is killed (with
        its pipeline process) and the timeout raised."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill(whole=True)
            raise

    def admin(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )

    def decide_consent(self, identifier: str, purpose: str, granted: bool) -> None:
        """Record a decision through ``POST /v1/consent`` as a preference centre does; it
        must be taken."""
        answer = httpx.post(
            f"{self.url}/v1/consent",
            json={
                "identifiers": [identifier],
                "purpose": purpose,
                "granted": granted,
                "source": "preference-centre",
            },
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert answer.status_code < 300, answer.text

    def metrics(self) -> str:
        """The Prometheus figures (``/metrics`` needs a token with the admin scope)."""
        return httpx.get(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5
        ).text

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until the pipeline has processed everything in the inbox."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.metrics()
            if "spokehub_inbox_pending 0.0" in text:
                return
            time.sleep(0.1)
        raise TimeoutError("pipeline did not catch up")

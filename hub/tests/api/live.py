"""A live API for tests: the app served by uvicorn, with the daemon's server settings, on
a free port in a thread of the test's process (so a test can also drive the pipeline and
read the writers' gate of the same engine)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from sqlalchemy import Engine

from spokehub.api import create_app
from spokehub.api.server import server_config
from spokehub.config import Project, validate
from spokehub.registry import Registry

KEY = "wk-live"


@contextmanager
def live_server(engine: Engine, server: dict[str, Any]) -> Iterator[tuple[int, Project]]:
    """Serve a project with one HTTP source (write key :data:`KEY`) and the given
    ``server`` settings; yields the port and the project."""
    project = validate(
        {"server": server, "connections": {"web": {"kind": "source", "write_keys": [KEY]}}}
    )
    app = create_app(project, Registry.load(allow=()), engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uvicorn_server = uvicorn.Server(
        server_config(
            app,
            project.server.http,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield port, project
    finally:
        uvicorn_server.should_exit = True
        thread.join(30)

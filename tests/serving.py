"""A project with one HTTP source and the destinations a test names, served by a real
``spokehub serve``: what the end-to-end tests of the destination spokes share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port

#: The destination most tests deliver to: the files spoke's ``crm.jsonl`` in the project.
FILES_CRM = {"crm": {"spoke": "files", "config": {"path": "crm.jsonl"}}}


def destination_project(
    directory: Path,
    port: int,
    destinations: Mapping[str, Mapping[str, Any]],
    routes: Sequence[Mapping[str, Any]] = (),
    *,
    store: str | None = None,
    server: Mapping[str, Any] | None = None,
    sources: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: Any,
) -> Path:
    """A project file: a store (SQLite in ``directory`` unless ``store`` names one), the
    HTTP source ``web``, the ``sources`` beside it and each destination connection as
    ``{name: {"spoke": …, "config": {…}}}``; ``server`` adds to the server settings,
    ``settings`` are more top-level sections (``audiences``, ``journeys`` …)."""
    path = directory / "spokehub.yaml"
    connections: dict[str, Any] = {"web": {"kind": "source", "write_keys": [WRITE_KEY]}}
    for name, connection in (sources or {}).items():
        connections[name] = {"kind": "source", **connection}
    for name, connection in destinations.items():
        connections[name] = {"kind": "destination", **connection}
    project: dict[str, Any] = {
        "store": {"url": store or f"sqlite:///{directory / 'hub.db'}"},
        "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN, **(server or {})},
        "connections": connections,
        **settings,
    }
    if routes:
        project["routes"] = [dict(route) for route in routes]
    path.write_text(yaml.safe_dump(project))
    return path


@contextmanager
def serving(
    directory: Path,
    destinations: Mapping[str, Mapping[str, Any]],
    routes: Sequence[Mapping[str, Any]],
) -> Iterator[Daemon]:
    """``spokehub serve`` on that project, with only the destinations' spokes loaded;
    stopped at the end, which must be a clean exit."""
    port = free_port()
    config = destination_project(directory, port, destinations, routes)
    spokes = sorted({str(c["spoke"]) for c in destinations.values()})
    daemon = Daemon(config, port, plugins=",".join(spokes)).start()
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0


def send(daemon: Daemon, *messages: Mapping[str, Any]) -> None:
    """Post ``messages`` as one ``/v1/batch`` from the source ``web``; it must be taken."""
    response = httpx.post(
        f"{daemon.url}/v1/batch",
        json={"batch": list(messages)},
        auth=(WRITE_KEY, ""),
        timeout=10,
    )
    assert response.status_code == 200, response.text

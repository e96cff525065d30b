"""The README's route table and the routes ``spokehub serve`` answers are the same set.

The table under "Running the hub" is the user's map of the HTTP API; a route missing
from it is undocumented, and a route only in it answers 404. Both directions fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from .daemon import Daemon, free_port, write_project

README = Path(__file__).resolve().parents[1] / "README.md"

#: FastAPI's own pages, served beside the hub's routes but not part of its API.
FRAMEWORK_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_SPAN = re.compile(r"`([^`]+)`")


def readme_routes(text: str) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every route in the ``| what | where |`` table.

    In the "where" column each backticked span is ``METHOD /path`` or ``/path``; a path
    without a method takes the method of the span before it in the same row (``GET`` when
    it is the first). A query string is not part of the route.
    """
    section = text.split("## Running the hub", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.replace(" ", "") == "|what|where|")
    routes: set[tuple[str, str]] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        where = line.strip().strip("|").split("|")[-1]
        method = "GET"
        for span in _SPAN.findall(where):
            words = span.split()
            if words[0] in _METHODS:
                method, words = words[0], words[1:]
            (path,) = words
            routes.add((method, path.split("?", 1)[0]))
    return routes


def served_routes(openapi: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in openapi["paths"].items()
        for method in operations
    }


def test_readme_table_is_read_as_written():
    table = "\n".join(
        [
            "## Running the hub",
            "| what | where |",
            "|---|---|",
            "| a | `POST /v1/a`, `/v1/b?x=1` (note) |",
            "| b | `/healthz`, `POST /v1/c/{id}`, `GET /v1/d` |",
            "",
            "| command | what |",
            "|---|---|",
            "| `spokehub serve` | not a route |",
        ]
    )
    assert readme_routes(table) == {
        ("POST", "/v1/a"),
        ("POST", "/v1/b"),
        ("GET", "/healthz"),
        ("POST", "/v1/c/{id}"),
        ("GET", "/v1/d"),
    }


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("routes")
    port = free_port()
    config = write_project(directory, f"sqlite:///{directory / 'hub.db'}", port)
    daemon = Daemon(config, port).start(timeout=120)
    try:
        return httpx.get(f"{daemon.url}/openapi.json", timeout=10).json()
    finally:
        assert daemon.stop() == 0


def _hub_routes(routes: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(method, path) for method, path in routes if path not in FRAMEWORK_PATHS}


def test_every_readme_route_is_served(openapi):
    documented = _hub_routes(readme_routes(README.read_text(encoding="utf-8")))
    missing = documented - served_routes(openapi)
    assert not missing, f"in the README but not served by spokehub serve: {sorted(missing)}"


def test_every_served_route_is_in_the_readme(openapi):
    served = _hub_routes(served_routes(openapi))
    undocumented = served - readme_routes(README.read_text(encoding="utf-8"))
    assert not undocumented, f"served but missing from the README's table: {sorted(undocumented)}"

"""pytest fixtures shared by the hub and end-to-end suites.

``store_url`` is parametrized over SQLite (a fresh file per test) and PostgreSQL (a fresh
schema per test in the database named by ``SPOKEHUB_TEST_PG_URL``, default the local
server). PostgreSQL cases are marked ``postgres`` and skip only when the variable is set
to ``skip``; in CI the server is started before the suite, so they really run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from spokehub.store import create_store_engine, upgrade
from spokehub.store.scratch import scratch_schema

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_base_url() -> str | None:
    url = os.environ.get("SPOKEHUB_TEST_PG_URL", DEFAULT_PG_URL)
    return None if url == "skip" else url


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = pg_base_url()
    if base is None:
        pytest.skip("SPOKEHUB_TEST_PG_URL=skip")
    with scratch_schema(base) as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A URL of an empty store: SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spokehub.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A migrated engine on each backend."""
    eng = create_store_engine(store_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """A migrated SQLite engine only, for tests that need no PostgreSQL twin."""
    eng = create_store_engine(f"sqlite:///{tmp_path / 'spokehub.db'}")
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run the real ``spokehub`` command in a subprocess, in ``tmp_path``."""

    def run(*args: str, env: dict[str, str] | None = None, extra_path: Path | None = None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
        full_env.update(env or {})
        if extra_path is not None:
            full_env["PYTHONPATH"] = str(extra_path)
        return subprocess.run(
            [sys.executable, "-m", "spokehub", *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run

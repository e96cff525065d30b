"""A PostgreSQL schema per test, on the server named by ``SPOKEHUB_TEST_PG_URL`` (default
the local one). Without a server the tests skip with the reason, unless
``SPOKEHUB_TEST_PG_REQUIRED=1`` makes that a failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_url() -> str | None:
    url = os.environ.get("SPOKEHUB_TEST_PG_URL", DEFAULT_PG_URL)
    return None if url == "skip" else url.replace("postgresql+psycopg://", "postgresql://")


def _unreachable(url: str | None) -> str | None:
    if url is None:
        return "SPOKEHUB_TEST_PG_URL=skip"
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The URL of a reachable server; skips (or fails, when required) without one."""
    url = pg_url()
    reason = _unreachable(url)
    if reason:
        if os.environ.get("SPOKEHUB_TEST_PG_REQUIRED") == "1":
            pytest.fail(f"{reason}, and SPOKEHUB_TEST_PG_REQUIRED=1 requires PostgreSQL tests")
        pytest.skip(f"{reason} (set SPOKEHUB_TEST_PG_REQUIRED=1 to fail instead)")
    assert url is not None
    return url


@pytest.fixture
def warehouse(pg_server: str) -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a schema name no other test uses, dropped afterwards."""
    schema = f"wh_{uuid.uuid4().hex[:12]}"
    try:
        yield pg_server, schema
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_source_url(pg_server: str) -> Iterator[str]:
    """A URL whose search_path is a new schema (the source's tables), dropped afterwards."""
    schema = f"src_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_server else "?"
    try:
        yield f"{pg_server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

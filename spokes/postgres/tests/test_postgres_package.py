"""The distribution hands its module to the hub through the ``spokehub`` entry point, and
the destination reads a refused login apart from a server that is busy or starting."""

from __future__ import annotations

import tomllib
from importlib import import_module
from pathlib import Path

import psycopg

from spokehub_contracts import AuthError, TransientError
from spokehub_postgres import PostgresDestination

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_entry_point_names_an_importable_module() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["entry-points"]["spokehub"] == {"postgres": "spokehub_postgres"}
    module = import_module("spokehub_postgres")
    assert sorted(module.__all__) == module.__all__


def test_a_refused_login_is_an_auth_error_and_a_full_server_passes() -> None:
    config = PostgresDestination.Config.model_validate({"url": "postgresql://x:pw@db/x"})
    spoke = PostgresDestination(config)
    said = 'connection failed: connection to server at "db", port 5432 failed: FATAL:  '
    refused = [
        'password authentication failed for user "x"',
        'role "x" does not exist',
        'no pg_hba.conf entry for host "10.0.0.1", user "x", database "x", no encryption',
    ]
    for text in refused:
        assert isinstance(spoke._error(psycopg.OperationalError(said + text), "x"), AuthError)
    passing = [
        'too many connections for role "x"',
        "the database system is starting up",
        "sorry, too many clients already",
    ]
    for text in passing:
        error = spoke._error(psycopg.OperationalError(said + text), "x")
        assert isinstance(error, TransientError) and not isinstance(error, AuthError)
    assert "pw" not in str(spoke._error(psycopg.OperationalError(said + "pw"), "x"))

"""pytest fixtures shared by the hub and end-to-end suites.

``store_url`` is parametrized over SQLite (a fresh file per test) and PostgreSQL (a fresh
schema per test in the database named by ``SPOKEHUB_TEST_PG_URL``, default the local
server). PostgreSQL cases are marked ``postgres``. They skip, with the reason, when
``SPOKEHUB_TEST_PG_URL`` is ``skip`` or the server cannot be reached, so the suite runs on
a laptop without one; with ``SPOKEHUB_TEST_PG_REQUIRED=1`` (set by CI, which starts the
server first) either case fails them instead, so a missing server never passes for green.

``run_cli`` runs the ``spokehub`` command in this process, through the function its console
script names; ``run_cli_process`` runs it as a real process, for tests about the process
itself.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from spokehub.store import create_store_engine, normalize_url, upgrade
from spokehub.store.scratch import scratch_schema

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_REQUIRED_VAR = "SPOKEHUB_TEST_PG_REQUIRED"


def pg_base_url() -> str | None:
    url = os.environ.get("SPOKEHUB_TEST_PG_URL", DEFAULT_PG_URL)
    return None if url == "skip" else url


def pg_required() -> bool:
    """Whether PostgreSQL tests must run (``SPOKEHUB_TEST_PG_REQUIRED=1``, as in CI)."""
    return os.environ.get(PG_REQUIRED_VAR, "") == "1"


def pg_unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why the server of ``url`` cannot be used (driver missing, refused, timed out), or
    None when a connection opens. The reason names host, port and database, never the
    password."""
    where = make_url(url)
    place = f"{where.host or 'localhost'}:{where.port or 5432}/{where.database or ''}"
    try:
        probe = create_engine(
            normalize_url(url), poolclass=NullPool, connect_args={"connect_timeout": timeout}
        )
        with probe.connect():
            pass
        probe.dispose()
    except ModuleNotFoundError as exc:
        return f"PostgreSQL driver {exc.name!r} is not installed"
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).strip().splitlines() or [""])[0]
        if where.password:
            first = first.replace(where.password, "***")
        return f"no PostgreSQL server at {place} ({type(cause).__name__}: {first})"
    return None


def pg_verdict(url: str | None, required: bool, reach: Callable[[str], str | None]) -> str:
    """What a PostgreSQL test does: return the base URL to run against, or skip or fail
    with the reason (fail when ``required``). ``reach`` is :func:`pg_unreachable`."""
    if url is None:
        reason = "SPOKEHUB_TEST_PG_URL=skip"
    else:
        reason = reach(url) or ""
        if not reason:
            return url
    if required:
        pytest.fail(f"{reason}, and {PG_REQUIRED_VAR}=1 requires PostgreSQL tests to run")
    pytest.skip(f"{reason} (set {PG_REQUIRED_VAR}=1 to fail instead)")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The base URL of a reachable PostgreSQL server, probed once per session; skips or
    fails (see the module docstring) when there is none."""
    return pg_verdict(pg_base_url(), pg_required(), pg_unreachable)


@pytest.fixture
def pg_schema_url(pg_server: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with scratch_schema(pg_server) as url:
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


#: The terminal width :func:`run_cli` gives every run.
CLI_COLUMNS = "250"


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, and a
    # rich console built while they are set keeps that size for good; without them the CLI
    # renders alike in a worker and in a single process.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


@dataclass(frozen=True)
class CliResult:
    """One run of the command: its exit code and what it wrote to each stream (read like
    :class:`subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


def _console_script() -> Callable[[], object]:
    """The function the installed ``spokehub`` command calls."""
    (script,) = entry_points(group="console_scripts", name="spokehub")
    return script.load()


@contextmanager
def _logging_kept(*, across_phases: bool = False) -> Iterator[None]:
    """Put logging back as it was: the command (or a test of logging) points structlog
    and the stdlib loggers at the stderr of the moment, which is closed once the run or
    the test is over. pytest adds capture handlers of its own around each phase of a test
    (setup, call, teardown); ``across_phases`` (saved in one phase, restored in another)
    leaves those as pytest has them at the end instead of bringing back stale ones."""
    structlog_config = structlog.get_config() if structlog.is_configured() else None
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    try:
        yield
    finally:
        if structlog_config is None:
            structlog.reset_defaults()
        else:
            structlog.configure(**structlog_config)
        for lg, handlers, level, propagate, disabled in saved:
            if across_phases:
                handlers = [h for h in handlers if not _pytests(h)]
                handlers += [h for h in lg.handlers if _pytests(h)]
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


def _pytests(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("_pytest.")


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Every test leaves logging as it found it, so a test that configured it (directly,
    or through the CLI in process) cannot break the logging of the tests that follow it
    in the same process, whichever order they run in."""
    with _logging_kept(across_phases=True):
        yield


def _exit_code(exc: SystemExit) -> tuple[int, str]:
    if exc.code is None:
        return 0, ""
    if isinstance(exc.code, int):
        return exc.code, ""
    return 1, f"{exc.code}\n"  # sys.exit("message") prints it and exits 1


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the ``spokehub`` command in this process, in ``tmp_path``, as its console script
    does (so the entry point's own error handling is part of what is tested).

    ``env`` adds variables (``SPOKEHUB_*`` from the outer environment are dropped);
    ``extra_path`` puts a folder of distributions on ``sys.path`` for the run, as
    ``PYTHONPATH`` would for a process. Every run sees a terminal :data:`CLI_COLUMNS` wide,
    whatever the outer one, so rich tables wrap the same in every run. Call it from a plain
    (not async) test: commands run their own event loop.
    """
    main = _console_script()

    def run(
        *args: str, env: dict[str, str] | None = None, extra_path: Path | None = None
    ) -> CliResult:
        modules_before = set(sys.modules)
        with pytest.MonkeyPatch.context() as mp, _logging_kept():
            for name in [k for k in os.environ if k.startswith("SPOKEHUB_")]:
                mp.delenv(name)
            # A rich console keeps the width it was built with when COLUMNS was set then,
            # and the CLI builds its consoles in whichever run first needs them: one width
            # for all runs keeps the output independent of the order tests run in.
            mp.setenv("COLUMNS", CLI_COLUMNS)
            mp.delenv("LINES", raising=False)
            for name, value in (env or {}).items():
                mp.setenv(name, value)
            if extra_path is not None:
                mp.syspath_prepend(str(extra_path))
            mp.chdir(tmp_path)
            mp.setattr(sys, "argv", ["spokehub", *args])
            with CliRunner().isolation() as (stdout, stderr, _):
                try:
                    main()
                    code, tail = 0, ""
                except SystemExit as exc:
                    code, tail = _exit_code(exc)
                result = CliResult(
                    code, stdout.getvalue().decode(), stderr.getvalue().decode() + tail
                )
        if extra_path is not None:
            _forget_modules_under(extra_path, set(sys.modules) - modules_before)
        return result

    return run


def _forget_modules_under(folder: Path, names: set[str]) -> None:
    """Unload what a run imported from ``folder``, as the end of a process would."""
    root = str(folder.resolve())
    for name in names:
        origin = getattr(sys.modules.get(name), "__file__", None) or ""
        if origin.startswith(root):
            del sys.modules[name]


@pytest.fixture
def run_cli_process(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``spokehub`` command in a subprocess, in ``tmp_path``: for tests about
    the process itself (how it starts, exits and reports); :func:`run_cli` for the rest."""

    def run(
        *args: str, env: dict[str, str] | None = None, extra_path: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
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

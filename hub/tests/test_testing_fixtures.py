"""The shared test fixtures: when PostgreSQL tests skip or fail, and the in-process CLI
runner leaving the test process as it found it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import structlog

from spokehub.testing.dists import make_fake_distribution
from spokehub.testing.fixtures import CLI_COLUMNS, PG_REQUIRED_VAR, pg_unreachable, pg_verdict

URL = "postgresql+psycopg://postgres@db.example:5432/test"


def _unreachable(url: str) -> str:
    return f"no PostgreSQL server at {url}"


def test_a_reachable_server_is_used():
    assert pg_verdict(URL, required=False, reach=lambda url: None) == URL
    assert pg_verdict(URL, required=True, reach=lambda url: None) == URL


def test_no_server_skips_with_the_reason():
    with pytest.raises(pytest.skip.Exception) as skipped:
        pg_verdict(URL, required=False, reach=_unreachable)
    assert f"no PostgreSQL server at {URL}" in str(skipped.value)
    assert f"{PG_REQUIRED_VAR}=1" in str(skipped.value)


def test_no_server_fails_when_postgresql_is_required():
    with pytest.raises(pytest.fail.Exception) as failed:
        pg_verdict(URL, required=True, reach=_unreachable)
    assert f"no PostgreSQL server at {URL}" in str(failed.value)
    assert f"{PG_REQUIRED_VAR}=1 requires" in str(failed.value)


def test_postgresql_switched_off_skips_unless_required():
    with pytest.raises(pytest.skip.Exception, match="SPOKEHUB_TEST_PG_URL=skip"):
        pg_verdict(None, required=False, reach=_unreachable)
    with pytest.raises(pytest.fail.Exception, match="SPOKEHUB_TEST_PG_URL=skip"):
        pg_verdict(None, required=True, reach=_unreachable)


def test_the_probe_names_the_server_and_hides_the_password():
    reason = pg_unreachable("postgresql://postgres:s3cret-pw@127.0.0.1:1/none", timeout=1)
    assert reason is not None
    assert reason.startswith("no PostgreSQL server at 127.0.0.1:1/none (")
    assert "s3cret-pw" not in reason


PG_TEST = """
def test_needs_postgresql(pg_schema_url):
    pass
"""


@pytest.mark.parametrize(
    ("required", "outcome"), [("", {"skipped": 1}), ("1", {"errors": 1})], ids=["skip", "fail"]
)
def test_a_postgresql_test_without_a_server(pytester, monkeypatch, required, outcome):
    monkeypatch.setenv("SPOKEHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:1/test")
    monkeypatch.setenv(PG_REQUIRED_VAR, required)
    pytester.makepyfile(PG_TEST)
    result = pytester.runpytest_inprocess(
        "-p", "spokehub.testing.fixtures", "-p", "no:asyncio", "-rs"
    )
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(["*no PostgreSQL server at 127.0.0.1:1/test*"])


def test_the_cli_runner_leaves_logging_as_it_was(run_cli):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    before = structlog.get_config()
    result = run_cli("config", "validate")  # configures logging, then fails: no project
    assert result.returncode == 2
    assert root.handlers == handlers and root.level == level
    assert structlog.get_config() == before
    structlog.get_logger("after").info("still writable")  # not the run's closed stderr


def test_the_cli_runner_unloads_what_it_imported_from_extra_path(run_cli, tmp_path: Path):
    site = tmp_path / "site"
    make_fake_distribution(site, "spokehub-extra", "extra", "spokehub_extra_probe", "X = 1\n")
    assert run_cli("spokes", extra_path=site).returncode == 0
    assert "spokehub_extra_probe" not in sys.modules
    assert str(site) not in sys.path


LOGGING_THEN_LOGGING = """
import logging

import structlog
from typer.testing import CliRunner

from spokehub.cli import app


def test_a_cli_run_configures_logging_onto_its_own_stderr(tmp_path):
    CliRunner().invoke(app, ["-c", str(tmp_path / "none.yaml"), "config", "validate"])


def test_then_logging_still_works():
    structlog.get_logger("next").info("written")
    logging.getLogger("next").warning("written too")
"""


def test_each_test_leaves_logging_as_it_found_it(pytester):
    pytester.makepyfile(LOGGING_THEN_LOGGING)
    result = pytester.runpytest_inprocess("-p", "spokehub.testing.fixtures", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)


def test_the_cli_runner_renders_at_one_width_whatever_the_terminal(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "24")
    result = run_cli("spokes", env={"SPOKEHUB_PLUGINS": "files"})
    assert result.returncode == 0, result.stderr
    widest = max(len(line) for line in result.stdout.splitlines())
    assert 40 < widest <= int(CLI_COLUMNS)

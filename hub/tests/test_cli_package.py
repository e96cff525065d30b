"""The ``spokehub`` command as a package: each command's module is loaded when that
command runs, and ``--help`` lists them all from one table that matches their own help.

What a process loads is a property of the process, so the start-up tests run the real
console script in a fresh interpreter and read its ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spokehub.cli import _Commands
from spokehub.cli.lazy import load
from spokehub.starter import write_starter

_PROBE = """
import json, sys
from spokehub.cli import main
sys.argv = ["spokehub", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _loaded(cwd: Path, *args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_help_loads_typer_and_no_command(tmp_path):
    loaded = _loaded(tmp_path, "--help")
    assert {m for m in loaded if m.startswith("spokehub")} == {
        "spokehub",
        "spokehub.cli",
        "spokehub.cli.lazy",
        "spokehub.cli.options",
    }
    assert not _roots(loaded) & {"pydantic", "rich", "sqlalchemy", "spokehub_contracts", "yaml"}


def test_config_validate_loads_neither_the_store_nor_the_http_stack(tmp_path):
    write_starter(tmp_path)
    loaded = _loaded(tmp_path, "config", "validate")
    assert "spokehub.cli.config" in loaded
    assert not _roots(loaded) & {"alembic", "fastapi", "sqlalchemy", "starlette", "uvicorn"}
    # Reading the spokes' configurations imports every spoke, and every spoke imports the
    # contracts' HTTP toolkit; the client itself, and the phone and e-mail libraries, load
    # only where a spoke sends a request or a value is normalized.
    assert "spokehub_contracts" in _roots(loaded)
    assert not _roots(loaded) & {"httpx", "tenacity", "phonenumbers", "email_validator"}
    heavy = {"api", "daemon", "delivery", "pipeline", "store", "sync"}
    assert not {m for m in loaded if m.split(".")[:2] in [["spokehub", h] for h in heavy]}


@pytest.mark.parametrize("entry", _Commands.deferred, ids=lambda e: e.name)
def test_the_listed_help_is_the_commands_own(entry):
    command = load(entry, markup=None)
    assert command.name == entry.name
    first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
    assert first_paragraph == entry.help


def test_every_command_module_is_listed():
    folder = Path(__file__).resolve().parents[1] / "src" / "spokehub" / "cli"
    support = {"__init__", "context", "lazy", "listing", "options", "store"}
    modules = {p.stem for p in folder.glob("*.py")} - support
    assert modules == {entry.name for entry in _Commands.deferred}

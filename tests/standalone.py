"""Installing a package into a fresh virtual environment with the contracts alone, as a
vendor or a user outside this repository would, and running its tests there.

Packages come from the same place ``make setup`` takes them, pinned by constraints.txt:
uv's cache first (``--offline``, so it works without a network), then the index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO / "contracts"


def find_uv() -> str:
    """The uv beside this interpreter (the dev environment's), or on PATH; skips if none."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed")
    return found


def clean_env() -> dict[str, str]:
    """The caller's environment without its virtualenv: nothing may leak into the new one."""
    return {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}


def fresh_venv(where: Path) -> Path:
    """A new virtual environment at ``where``; returns its python."""
    subprocess.run(
        [find_uv(), "venv", "--quiet", "--python", sys.executable, str(where)],
        check=True,
        env=clean_env(),
        timeout=120,
    )
    return where / "bin" / "python"


def install(python: Path, requirements: Sequence[str], cwd: Path) -> None:
    """``uv pip install`` ``requirements`` (paths or names, extras allowed) into ``python``'s
    environment, pinned by the repository's constraints; offline first."""
    command = [
        find_uv(),
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "-c",
        str(REPO / "constraints.txt"),
        *requirements,
    ]
    for extra in (["--offline"], []):
        done = subprocess.run(
            command + extra, capture_output=True, text=True, env=clean_env(), cwd=cwd, timeout=600
        )
        if done.returncode == 0:
            return
    raise AssertionError(f"installing {list(requirements)} failed:\n{done.stderr}")


def run_pytest(python: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run ``pytest`` in ``folder`` with ``python``, as its own project."""
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=folder,
        timeout=600,
    )


CHECK_REGISTERED = """
import importlib.util, sys
from importlib.metadata import entry_points

assert importlib.util.find_spec("spokehub") is None, "the hub is installed"
found = {{ep.name: ep.value for ep in entry_points(group="spokehub")}}
assert found.get({name!r}) == {module!r}, found
__import__({module!r})
print("ok")
"""


def assert_registered(python: Path, name: str, module: str, cwd: Path) -> None:
    """Without the hub, the environment's ``spokehub`` entry points name the spoke, and its
    package imports."""
    done = subprocess.run(
        [str(python), "-c", CHECK_REGISTERED.format(name=name, module=module)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

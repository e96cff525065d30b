"""The spoke installs and registers itself in an environment that has no hub."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SPOKE = Path(__file__).resolve().parents[1]
REPO = SPOKE.parents[1]

CHECK = """
import importlib.util
from importlib.metadata import entry_points

import spokehub_files

assert importlib.util.find_spec("spokehub") is None, "the hub is installed"
found = {ep.name: ep.value for ep in entry_points(group="spokehub")}
assert found.get("files") == "spokehub_files", found
print("ok")
"""


def find_uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


@pytest.mark.slow
def test_installs_with_only_the_contracts(tmp_path: Path) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Only the caller's environment and no project settings: the install must not depend
    # on the developer's virtualenv or on the workspace root.
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    command = [
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "-c",
        str(REPO / "constraints.txt"),
        str(REPO / "contracts"),
        str(SPOKE),
    ]
    # Offline first, from uv's cache, so the test passes without a network; then online.
    for extra in (["--offline"], []):
        install = subprocess.run(
            command + extra,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        if install.returncode == 0:
            break
    assert install.returncode == 0, install.stderr
    result = subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

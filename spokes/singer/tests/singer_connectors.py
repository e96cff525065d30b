"""The real connectors the tests run, installed once per version into a cache folder.

``$SPOKEHUB_TEST_BRIDGE_CACHE``, by default ``~/.cache/spokehub/bridges``, holds one
bridge home per connector and version; a later run finds it there and needs no network.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

#: The real connectors the tests run, pinned so that the cache stays valid.
REAL = {"tap-jsonl": "0.3.1", "target-jsonl": "0.1.4", "airbyte-source-faker": "7.2.1"}


def _uv() -> str:
    found = os.environ.get("SPOKEHUB_UV") or shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    try:
        import uv  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("uv is needed to install the real connectors (pip install uv)")
    return str(uv.find_uv_bin())


@cache
def install(name: str) -> Path:
    """The bridge home holding ``name`` at its pinned version, installed on first use."""
    version = REAL[name]
    default = Path.home() / ".cache" / "spokehub" / "bridges"
    cache = Path(os.environ.get("SPOKEHUB_TEST_BRIDGE_CACHE") or default)
    home = cache / f"{name}-{version}"
    venv = home / name
    done = venv / ".spokehub-installed"
    cache.mkdir(parents=True, exist_ok=True)
    # Test workers in parallel share the cache: one installs, the others wait for it.
    with (cache / f"{name}-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            _install(name, version, home, venv)
            done.write_text(version)
    return home


def _install(name: str, version: str, home: Path, venv: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
            f"{name}=={version}",
        ],
        check=True,
    )


def executable(name: str, program: str | None = None) -> str:
    """The path of ``program`` (default ``name``) in the installed ``name``."""
    return str(install(name) / name / "bin" / (program or name))

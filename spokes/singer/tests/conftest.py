"""Fake connectors for fault injection, and the real ones from the package index.

The real connectors (``tap-jsonl``, ``target-jsonl``) are installed once into a cache
folder keyed by name and version (``$SPOKEHUB_TEST_BRIDGE_CACHE``, by default
``~/.cache/spokehub/bridges``) and reused by every later run, which then needs no
network. They live in a bridge home of their own, one virtual environment each.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

#: The real connectors the tests run, pinned so that the cache stays valid.
REAL = {"tap-jsonl": "0.3.1", "target-jsonl": "0.1.4", "airbyte-source-faker": "7.2.1"}


def _script(folder: Path, name: str) -> str:
    path = folder / name
    path.write_text(f"#!{sys.executable}\n" + (HERE / f"{name.replace('-', '_')}.py").read_text())
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def fake_tap(tmp_path: Path) -> str:
    return _script(tmp_path, "fake-tap")


@pytest.fixture
def fake_target(tmp_path: Path) -> str:
    return _script(tmp_path, "fake-target")


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


def install(name: str) -> Path:
    """The bridge home holding ``name`` at its pinned version, installed on first use."""
    version = REAL[name]
    default = Path.home() / ".cache" / "spokehub" / "bridges"
    cache = Path(os.environ.get("SPOKEHUB_TEST_BRIDGE_CACHE") or default)
    home = cache / f"{name}-{version}"
    venv = home / name
    done = venv / ".spokehub-installed"
    if not done.exists():
        shutil.rmtree(home, ignore_errors=True)
        uv = _uv()
        subprocess.run([uv, "venv", "--quiet", str(venv)], check=True)
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
        done.write_text(version)
    return home


@pytest.fixture(scope="session")
def tap_jsonl_home() -> Path:
    return install("tap-jsonl")


@pytest.fixture(scope="session")
def target_jsonl_home() -> Path:
    return install("target-jsonl")


@pytest.fixture(scope="session")
def faker_home() -> Path:
    return install("airbyte-source-faker")

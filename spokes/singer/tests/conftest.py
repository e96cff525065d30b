"""Fake connectors for fault injection, and the real ones from the package index.

The real connectors (``tap-jsonl``, ``target-jsonl``) are installed once into a cache
folder keyed by name and version (``$SPOKEHUB_TEST_BRIDGE_CACHE``, by default
``~/.cache/spokehub/bridges``) and reused by every later run, which then needs no
network. They live in a bridge home of their own, one virtual environment each.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from singer_connectors import install

HERE = Path(__file__).parent


def _script(folder: Path, name: str) -> str:
    path = folder / name
    path.write_text(f"#!{sys.executable}\n" + (HERE / f"{name.replace('-', '_')}.py").read_text())
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def fake_tap(tmp_path: Path) -> str:
    return _script(tmp_path, "fake-tap")


@pytest.fixture
def fake_airbyte(tmp_path: Path) -> str:
    return _script(tmp_path, "fake-airbyte")


@pytest.fixture
def fake_target(tmp_path: Path) -> str:
    return _script(tmp_path, "fake-target")


@pytest.fixture(scope="session")
def tap_jsonl_home() -> Path:
    return install("tap-jsonl")


@pytest.fixture(scope="session")
def target_jsonl_home() -> Path:
    return install("target-jsonl")


@pytest.fixture(scope="session")
def faker_home() -> Path:
    return install("airbyte-source-faker")

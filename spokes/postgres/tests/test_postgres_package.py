"""The distribution hands its module to the hub through the ``spokehub`` entry point."""

from __future__ import annotations

import tomllib
from importlib import import_module
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_entry_point_names_an_importable_module() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["entry-points"]["spokehub"] == {"postgres": "spokehub_postgres"}
    module = import_module("spokehub_postgres")
    assert sorted(module.__all__) == module.__all__

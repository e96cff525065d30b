"""A spoke's README examples, read the way the tests that keep them true read them."""

from __future__ import annotations

import importlib
import re
import unittest
from typing import Any


def readme_blocks(readme: str, language: str) -> list[str]:
    """The README's fenced blocks of ``language`` (``yaml``, ``python``), in order."""
    return re.findall(rf"```{re.escape(language)}\n(.*?)```", readme, re.DOTALL)


def readme_project(readme: str, example: int = 0) -> dict[str, Any]:
    """The project file of the README's YAML example number ``example`` (from 0), parsed.
    The test is skipped where PyYAML is not installed: the hub reads project files, the
    contracts do not."""
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise unittest.SkipTest("PyYAML is not installed") from None
    blocks = readme_blocks(readme, "yaml")
    assert len(blocks) > example, f"the README has no yaml example number {example + 1}"
    project: dict[str, Any] = yaml.safe_load(blocks[example])
    return project


def readme_connection(
    readme: str, spoke: str, kind: str, example: int = 0
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """That project, and the name and settings of its one connection, which must be a
    ``kind`` (``source``, ``destination``) of ``spoke``."""
    project = readme_project(readme, example)
    [(name, connection)] = project["connections"].items()
    assert connection["spoke"] == spoke and connection["kind"] == kind, name
    return project, name, connection

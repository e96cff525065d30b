"""The configuration example of the README is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spokehub_files import FilesDestination, FilesSource

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_example_validates() -> None:
    yaml = pytest.importorskip("yaml")
    block = re.search(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    assert block, "the README has a yaml example"
    connections = yaml.safe_load(block.group(1))["connections"]
    spokes = {"source": FilesSource, "destination": FilesDestination}
    for name, connection in connections.items():
        assert connection["spoke"] == "files", name
        spoke = spokes[connection["kind"]]
        spoke(spoke.Config.model_validate(connection["config"]), connection=name)
    assert {c["kind"] for c in connections.values()} == {"source", "destination"}

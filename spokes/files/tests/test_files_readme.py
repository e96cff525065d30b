"""The configuration example of the README is valid."""

from __future__ import annotations

from pathlib import Path

from spokehub_contracts.testing import readme_project
from spokehub_files import FilesDestination, FilesSource

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_example_validates() -> None:
    connections = readme_project(README.read_text())["connections"]
    spokes = {"source": FilesSource, "destination": FilesDestination}
    for name, connection in connections.items():
        assert connection["spoke"] == "files", name
        spoke = spokes[connection["kind"]]
        spoke(spoke.Config.model_validate(connection["config"]), connection=name)
    assert {c["kind"] for c in connections.values()} == {"source", "destination"}

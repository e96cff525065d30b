"""The README's table of distributions names every member of the repository, with the
distribution and import names its pyproject gives it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `(?P<folder>[^`]+)/` \| `(?P<dist>[^`]+)` \| `(?P<module>[^`]+)` \|", re.M)


def test_every_member_has_its_row() -> None:
    rows = {
        m["folder"]: (m["dist"], m["module"])
        for m in ROW.finditer((REPO / "README.md").read_text())
    }
    members = sorted(
        p.parent
        for pattern in ("contracts", "hub", "spokes/*", "plugins/*")
        for p in REPO.glob(f"{pattern}/pyproject.toml")
    )
    assert members
    for folder in members:
        name = str(folder.relative_to(REPO))
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        module = project["name"].replace("-", "_")
        assert rows.get(name) == (project["name"], module), f"{name}: README row missing or wrong"

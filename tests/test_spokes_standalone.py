"""Every spoke and plugin folder of the repository, copied out of it, installs against the
contracts alone, registers itself without the hub, and passes its own tests there: a spoke
or a plugin can be lifted into its own repository at any time."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from .standalone import CONTRACTS, REPO, assert_registered, fresh_venv, install, run_pytest

pytestmark = pytest.mark.slow

SPOKES = sorted(
    p.parent for folder in ("spokes", "plugins") for p in (REPO / folder).glob("*/pyproject.toml")
)
LEFT_BEHIND = shutil.ignore_patterns("__pycache__", ".pytest_cache", "build", "dist", "*.egg-info")


def test_there_are_spokes_to_check() -> None:
    assert SPOKES, "no spoke folder found under spokes/"


@pytest.mark.parametrize("folder", SPOKES, ids=[f"{p.parent.name}/{p.name}" for p in SPOKES])
def test_a_spoke_folder_copied_out_installs_and_passes_its_tests(
    tmp_path: Path, folder: Path
) -> None:
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    copy = tmp_path / "elsewhere" / folder.name
    shutil.copytree(folder, copy, ignore=LEFT_BEHIND)
    python = fresh_venv(tmp_path / "venv")
    extras = "[test]" if "test" in project.get("optional-dependencies", {}) else ""
    requirements = [str(CONTRACTS), f"{copy}{extras}"]
    if not extras:
        requirements.append("pytest")
    install(python, requirements, cwd=tmp_path)
    for name, module in project.get("entry-points", {}).get("spokehub", {}).items():
        assert_registered(python, name, module, cwd=tmp_path)
    result = run_pytest(python, copy)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout

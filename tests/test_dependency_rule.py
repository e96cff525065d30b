"""The hub-and-spoke rule, checked on the source tree (import-linter checks it too).

Spokes and plugins import ``spokehub_contracts`` and never ``spokehub``; the hub imports no
spoke by name; every spoke and plugin package is covered by the import-linter contracts.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = sorted(p.parent for p in ROOT.glob("spokes/*/pyproject.toml")) + sorted(
    p.parent for p in ROOT.glob("plugins/*/pyproject.toml")
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _packages(member: Path) -> list[str]:
    return sorted(p.name for p in (member / "src").iterdir() if (p / "__init__.py").exists())


@pytest.mark.parametrize("member", MEMBERS, ids=lambda p: p.name)
def test_spokes_and_plugins_never_import_the_hub(member: Path):
    offenders = [
        str(path.relative_to(ROOT)) for path in member.rglob("*.py") if "spokehub" in _imports(path)
    ]
    assert offenders == [], f"these files import the hub: {offenders}"


@pytest.mark.parametrize("member", MEMBERS, ids=lambda p: p.name)
def test_spoke_registers_through_the_entry_point_group(member: Path):
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["spokehub"], "a spoke registers in the 'spokehub' group"
    deps = " ".join(project.get("dependencies", []))
    assert "spokehub-contracts" in deps
    assert not any(d.split()[0].startswith("spokehub>") for d in project.get("dependencies", []))


def test_hub_imports_no_spoke_by_name():
    spoke_packages = {pkg for m in MEMBERS for pkg in _packages(m)}
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "hub" / "src").rglob("*.py")
        if _imports(path) & spoke_packages
    ]
    assert offenders == []


def test_import_linter_covers_every_spoke_and_plugin():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    rule = next(c for c in config["contracts"] if "never import the hub" in c["name"])
    for member in MEMBERS:
        for pkg in _packages(member):
            assert pkg in config["root_packages"], f"add {pkg} to root_packages"
            assert pkg in rule["source_modules"], f"add {pkg} to the spokes contract"

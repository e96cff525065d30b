"""The hub-and-spoke rule, checked on the source tree (import-linter checks it too).

Spokes and plugins import ``spokehub_contracts`` and never ``spokehub``; the hub imports no
spoke by name; the import-linter contracts find every spoke and plugin package by folder
(tests/import_rules.py), so a new one is covered without an edit to shared lines.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import importlinter.api  # noqa: F401  (sets import-linter up, as lint-imports does)
import pytest

from .import_rules import ForbiddenMembersContract, member_packages

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


def _member_contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return [c for c in config["contracts"] if c["type"] == "forbidden_members"]


def test_import_linter_finds_every_spoke_and_plugin_by_folder():
    contracts = _member_contracts()
    assert {c["name"] for c in contracts} == {
        "Contracts depend on nothing of the hub or any spoke",
        "Spokes and plugins never import the hub",
        "The hub imports no spoke by name",
    }
    packages = sorted(pkg for m in MEMBERS for pkg in _packages(m))
    for contract in contracts:
        assert member_packages(contract["members"], ROOT) == packages, contract["name"]


def test_a_new_spoke_that_imports_the_hub_breaks_the_contract(tmp_path, monkeypatch):
    # A spoke folder nobody listed anywhere: the contract finds it and checks it.
    package = tmp_path / "spokes" / "newcomer" / "src" / "spokehub_newcomer_probe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from spokehub.config import Project\n")
    monkeypatch.syspath_prepend(str(package.parent))
    [options] = [c for c in _member_contracts() if c["members_are"] == "source"]
    contract = ForbiddenMembersContract(
        name=options["name"],
        session_options={"root_packages": ["spokehub", "spokehub_contracts"]},
        contract_options={
            **{k: v for k, v in options.items() if k not in ("name", "type")},
            "members": [str(tmp_path / "spokes/*/src/*")],
        },
    )
    assert contract.member_names == ["spokehub_newcomer_probe"]
    check = contract.check(None, verbose=False)  # type: ignore[arg-type]
    assert not check.kept

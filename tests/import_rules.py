"""An import-linter contract type whose spoke and plugin packages are found by folder.

A forbidden contract names its modules one by one, so every new spoke would have to be
added to shared lines of ``pyproject.toml``, and two spokes written in parallel would
collide there. ``forbidden_members`` is import-linter's ``forbidden`` contract plus two
options:

- ``members``: folder patterns (``spokes/*/src/*``) relative to the directory
  ``lint-imports`` runs in; every package folder they match (one with an ``__init__.py``)
  is a member, found again at each run;
- ``members_are``: whether the members join the ``source_modules`` or the
  ``forbidden_modules``.

The members are not ``root_packages`` of the session, so the contract checks a graph of
its own: the session's root packages plus the members (built once per run).
``pyproject.toml`` registers the type under ``contract_types``; ``lint-imports`` can import
it because it puts its working directory on ``sys.path``.
"""

from __future__ import annotations

import copy
import glob
import importlib.util
from pathlib import Path

import grimp
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.domain import fields
from importlinter.domain.contract import ContractCheck, InvalidContractOptions
from importlinter.domain.imports import ModuleExpression

__all__ = ["ForbiddenMembersContract", "member_packages"]


def member_packages(patterns: list[str], root: Path | None = None) -> list[str]:
    """The import names of the package folders ``patterns`` match under ``root`` (default
    the working directory), sorted."""
    base = root or Path.cwd()
    found = {
        Path(path).name
        for pattern in patterns
        for path in glob.glob(str(base / pattern))
        if (Path(path) / "__init__.py").is_file()
    }
    return sorted(found)


_graphs: dict[tuple[tuple[str, ...], bool], grimp.ImportGraph] = {}


def _graph(packages: tuple[str, ...], include_external: bool) -> grimp.ImportGraph:
    """A graph of ``packages``, built once per run and copied for each contract (a contract
    may remove the imports it ignores from the graph it is given)."""
    key = (packages, include_external)
    if key not in _graphs:
        missing = [p for p in packages if importlib.util.find_spec(p) is None]
        if missing:
            raise InvalidContractOptions(
                {"members": f"not installed: {', '.join(missing)} (run make setup)"}
            )
        _graphs[key] = grimp.build_graph(
            *packages, include_external_packages=include_external, cache_dir=None
        )
    return copy.deepcopy(_graphs[key])


class ForbiddenMembersContract(ForbiddenContract):
    """A ``forbidden`` contract in which the workspace's members, found by folder, are
    source or forbidden modules (see the module docstring)."""

    type_name = "forbidden_members"

    members = fields.ListField(subfield=fields.StringField())
    members_are = fields.StringField()

    def validate(self) -> None:
        super().validate()
        if self.members_are not in ("source", "forbidden"):
            raise InvalidContractOptions({"members_are": "either 'source' or 'forbidden'"})
        self.member_names = member_packages(self.members)  # type: ignore[arg-type]
        target = self.source_modules if self.members_are == "source" else self.forbidden_modules
        target.update(ModuleExpression(name) for name in self.member_names)  # type: ignore[union-attr]

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = list(self.session_options["root_packages"])
        packages = tuple(roots + [n for n in self.member_names if n not in roots])
        # Within this contract's graph the members are root packages like the session's.
        self.session_options = {**self.session_options, "root_packages": list(packages)}
        include_external = str(self.session_options.get("include_external_packages", ""))
        return super().check(_graph(packages, include_external.lower() == "true"), verbose)

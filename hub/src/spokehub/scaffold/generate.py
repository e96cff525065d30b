"""Writing a spoke package from the templates."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

SpokeKind = Literal["source", "destination"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_SUFFIX = ".tmpl"


class ScaffoldError(Exception):
    """The spoke cannot be written as asked; the message says why and what to do."""


@dataclass(frozen=True)
class SpokeNames:
    """Every name a spoke called ``name`` goes by.

    :ivar name: the spoke's name in the hub and its entry point (``acme-crm``).
    :ivar dist: the distribution (``spokehub-acme-crm``).
    :ivar module: the import package (``spokehub_acme_crm``).
    :ivar system: the identifier namespace and file prefix (``acme_crm``).
    :ivar title: for prose (``Acme Crm``).
    :ivar classname: the class prefix (``AcmeCrm``).
    """

    name: str
    dist: str
    module: str
    system: str
    title: str
    classname: str

    @classmethod
    def of(cls, name: str) -> SpokeNames:
        """The names of spoke ``name``.

        :raises ScaffoldError: if ``name`` is not lowercase letters and digits, words
            joined by ``-`` or ``_``, starting with a letter.
        """
        if not _NAME.match(name):
            raise ScaffoldError(
                f"spoke name {name!r}: use lowercase letters and digits, words joined by"
                " '-' or '_', starting with a letter (e.g. acme-crm)"
            )
        system = name.replace("-", "_")
        words = re.split(r"[-_]", name)
        return cls(
            name=name,
            dist=f"spokehub-{name.replace('_', '-')}",
            module=f"spokehub_{system}",
            system=system,
            title=" ".join(w.capitalize() for w in words),
            classname="".join(w.capitalize() for w in words),
        )

    def replacements(self) -> dict[str, str]:
        return {
            "{{name}}": self.name,
            "{{dist}}": self.dist,
            "{{module}}": self.module,
            "{{system}}": self.system,
            "{{title}}": self.title,
            "{{Title}}": self.classname,
            "{{ENV}}": self.system.upper(),
            "{{host}}": self.name.replace("_", "-"),
            "{{SANDBOX_KEY}}": f"{self.system}_sandbox_key",
        }


def _fill(text: str, names: SpokeNames) -> str:
    for placeholder, value in names.replacements().items():
        text = text.replace(placeholder, value)
    return text


def _templates(kind: SpokeKind) -> list[tuple[str, Traversable]]:
    """``(relative path, template)`` for every file of a ``kind`` spoke."""
    root = resources.files(__package__).joinpath("templates")
    found: list[tuple[str, Traversable]] = []

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            path = f"{prefix}{entry.name}"
            if entry.is_dir():
                walk(entry, f"{path}/")
            elif entry.name.endswith(_SUFFIX):
                found.append((path[: -len(_SUFFIX)], entry))

    walk(root.joinpath("common"), "")
    walk(root.joinpath(kind), "")
    return found


def _target_path(relative: str, names: SpokeNames) -> str:
    return relative.replace("__module__", names.module).replace("__system__", names.system)


def _store_config_schema(directory: Path, names: SpokeNames) -> Path:
    """Write the config's JSON schema where the conformance suite compares later releases.

    The config module is loaded from the new files under a private name: it imports the
    contracts only, and nothing of it stays in ``sys.modules``.
    """
    source = directory / "src" / names.module / "_config.py"
    private = f"_spokehub_new_{names.system}_config"
    spec = importlib.util.spec_from_file_location(private, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    try:
        spec.loader.exec_module(module)
        config = getattr(module, f"{names.classname}Config")
        schema = config.model_json_schema()
    finally:
        del sys.modules[private]
    target = directory / "tests" / f"{names.system}_config_schema.json"
    target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return target


def new_spoke(name: str, kind: SpokeKind, directory: Path) -> list[Path]:
    """Write a ``kind`` spoke called ``name`` into ``directory`` and return the files.

    ``directory`` must not exist or be empty. The package installs with
    ``spokehub-contracts`` alone, and its tests (the conformance suite against its
    sandbox, and a few of its own) pass as written.

    :raises ScaffoldError: for a bad name or kind, or a directory that has files in it.
    """
    if kind not in ("source", "destination"):
        raise ScaffoldError(f"kind {kind!r}: a spoke is a source or a destination")
    names = SpokeNames.of(name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ScaffoldError(
            f"{directory} already has files in it: name an empty or new directory (--dir)"
        )
    written: list[Path] = []
    for relative, template in _templates(kind):
        target = directory / _target_path(relative, names)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = _fill(template.read_text(encoding="utf-8"), names)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    written.append(_store_config_schema(directory, names))
    return written

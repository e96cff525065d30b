"""The data contract: declared traits and events, checked at intake, shared with the
warehouse. See :mod:`spokehub.datacontract.spec` for the file format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from spokehub_contracts import ConfigError

from .._errors import ConfigErrors, pydantic_config_errors
from .check import Checker, FieldViolation, Verdict
from .diff import ContractChange, diff
from .spec import ContractSpec, EffectiveContract, effective

__all__ = [
    "Checker",
    "ContractChange",
    "ContractSpec",
    "EffectiveContract",
    "FieldViolation",
    "Verdict",
    "diff",
    "effective",
    "load_contract",
    "parse_contract",
]


def parse_contract(data: Any, where: str = "contract") -> ContractSpec:
    """Validate a contract mapping; errors carry the YAML path under ``where``."""
    try:
        return ContractSpec.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigErrors(pydantic_config_errors(exc, where)) from None


def read_contract_file(path: Path) -> ContractSpec:
    """Read a contract from ``contract.yaml`` or from a project file's ``contract:`` section."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        problem = f"cannot read contract: {type(exc).__name__}"
        raise ConfigErrors([ConfigError(str(path), problem)]) from None
    if isinstance(data, dict) and "version" in data and "contract" in data:
        return parse_contract(data["contract"], f"{path.name}: contract")
    return parse_contract(data, path.name)


def load_contract(project_contract: Any, project_path: Path | None) -> EffectiveContract:
    """The effective contract of a project: its ``contract:`` section (a mapping, or the
    path of a contract file relative to the project file), else ``contract.yaml`` beside
    the project file, else the built-in defaults."""
    base = project_path.parent if project_path else Path.cwd()
    if isinstance(project_contract, str):
        return effective(read_contract_file(base / project_contract))
    if isinstance(project_contract, dict):
        return effective(parse_contract(project_contract))
    beside = base / "contract.yaml"
    if beside.exists():
        return effective(read_contract_file(beside))
    return effective(None)

"""A spoke that ``spokehub new spoke`` writes outside the repository installs into a fresh
environment with the contracts alone, registers itself, and passes its own tests there."""

from __future__ import annotations

from pathlib import Path

import pytest

from spokehub.scaffold import SpokeNames, new_spoke

from .standalone import CONTRACTS, assert_registered, fresh_venv, install, run_pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("kind", "name"), [("destination", "acme-crm"), ("source", "zeta")])
def test_a_new_spoke_installs_with_the_contracts_alone_and_passes(
    tmp_path: Path, kind: str, name: str
) -> None:
    folder = tmp_path / "vendor" / name
    new_spoke(name, kind, folder)  # type: ignore[arg-type]
    python = fresh_venv(tmp_path / "venv")
    install(python, [str(CONTRACTS), f"{folder}[test]"], cwd=tmp_path)
    names = SpokeNames.of(name)
    assert_registered(python, names.name, names.module, cwd=tmp_path)
    result = run_pytest(python, folder)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout

"""``spokehub new spoke``'s generator: names, refusals, and a package whose own tests pass
and that lints clean as written."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from spokehub.scaffold import ScaffoldError, SpokeNames, new_spoke


def test_every_name_a_spoke_goes_by() -> None:
    names = SpokeNames.of("acme-crm")
    assert (names.name, names.dist, names.module, names.system) == (
        "acme-crm",
        "spokehub-acme-crm",
        "spokehub_acme_crm",
        "acme_crm",
    )
    assert (names.title, names.classname) == ("Acme Crm", "AcmeCrm")
    assert SpokeNames.of("shop_2").dist == "spokehub-shop-2"


@pytest.mark.parametrize("name", ["Acme", "2shop", "acme crm", "acme--crm", "acme-", "", "ácme"])
def test_a_bad_name_is_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ScaffoldError, match="use lowercase letters and digits"):
        SpokeNames.of(name)


def test_it_writes_into_a_new_or_empty_directory_only(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="already has files in it"):
        new_spoke("acme", "destination", tmp_path / "taken")
    with pytest.raises(ScaffoldError, match="a source or a destination"):
        new_spoke("acme", "plugin", tmp_path / "new")  # type: ignore[arg-type]
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    assert new_spoke("acme", "destination", tmp_path / "empty")


@pytest.mark.parametrize("kind", ["destination", "source"])
def test_the_package_declares_its_entry_point_and_the_contracts_alone(
    tmp_path: Path, kind: str
) -> None:
    files = new_spoke("acme-crm", kind, tmp_path / "acme")  # type: ignore[arg-type]
    relative = sorted(str(f.relative_to(tmp_path / "acme")) for f in files)
    assert relative == sorted(
        [
            "README.md",
            "pyproject.toml",
            "src/spokehub_acme_crm/__init__.py",
            "src/spokehub_acme_crm/_config.py",
            f"src/spokehub_acme_crm/_{kind}.py",
            "src/spokehub_acme_crm/py.typed",
            "src/spokehub_acme_crm/testing.py",
            "tests/acme_crm_config_schema.json",
            "tests/test_acme_crm_conformance.py",
            f"tests/test_acme_crm_{kind}.py",
        ]
    )
    project = tomllib.loads((tmp_path / "acme" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "spokehub-acme-crm"
    assert project["dependencies"] == ["spokehub-contracts>=0.1,<0.2"]
    assert project["entry-points"]["spokehub"] == {"acme-crm": "spokehub_acme_crm"}
    readme = (tmp_path / "acme" / "README.md").read_text()
    assert "spoke: acme-crm" in readme and "${ACME_CRM_API_KEY}" in readme
    assert "{{" not in "".join(f.read_text() for f in files)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "tests"), [("destination", 22), ("source", 26)])
def test_the_new_spokes_tests_pass_as_written(tmp_path: Path, kind: str, tests: int) -> None:
    folder = tmp_path / "zeta"
    new_spoke("zeta", kind, folder)  # type: ignore[arg-type]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore"],
        capture_output=True,
        text=True,
        cwd=folder,
        env={"PYTHONPATH": str(folder / "src"), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"{tests} passed" in done.stdout


@pytest.mark.parametrize("kind", ["destination", "source"])
def test_the_new_spoke_lints_clean(tmp_path: Path, kind: str) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed")
    folder = tmp_path / "acme_crm"
    new_spoke("acme_crm", kind, folder)  # type: ignore[arg-type]
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [ruff, *command, "--no-cache", "."], capture_output=True, text=True, cwd=folder
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_line_writes_spokes_name_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spokehub.scaffold.__main__ import main

    monkeypatch.chdir(tmp_path)
    assert main(["acme", "--destination"]) == 0
    assert (tmp_path / "spokes" / "acme" / "src" / "spokehub_acme" / "_destination.py").exists()
    assert "wrote spokehub-acme (destination) to spokes/acme" in capsys.readouterr().out
    assert main(["acme", "--source"]) == 2
    assert "already has files in it" in capsys.readouterr().err
    assert main(["beta", "--source", "--dir", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "src" / "spokehub_beta" / "_source.py").exists()


def test_the_new_spoke_command_writes_a_package(run_cli, tmp_path: Path) -> None:
    result = run_cli("new", "spoke", "acme", "--source")
    assert result.returncode == 0, result.stderr
    assert "wrote spokehub-acme (source) to spokes/acme" in result.stdout
    assert "pip install -e 'spokes/acme[test]'" in result.stdout
    assert (tmp_path / "spokes" / "acme" / "pyproject.toml").is_file()


def test_the_new_spoke_command_needs_one_kind_and_a_good_name(run_cli) -> None:
    both = run_cli("new", "spoke", "acme", "--source", "--destination")
    assert both.returncode == 2
    assert "choose one of --source or --destination" in both.stderr
    bad = run_cli("new", "spoke", "Acme", "--destination")
    assert bad.returncode == 2
    assert "use lowercase letters and digits" in bad.stderr

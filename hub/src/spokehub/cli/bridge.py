"""``spokehub bridge``: bridged connectors (Singer taps and targets, Airbyte Python
sources), each installed into its own virtual environment with uv.

A connector's pins never meet the hub's nor another connector's (``tap-jsonl`` and
``target-jsonl`` need different ``jsonschema`` majors): ``<home>/<name>/`` is a virtual
environment of its own, and the bridge spokes run ``<home>/<name>/bin/<executable>``.
The home is ``$SPOKEHUB_BRIDGE_HOME`` or ``.spokehub/bridges`` in the working directory,
the same rule the bridge spokes follow.

uv is found as ``$SPOKEHUB_UV``, then ``uv`` on ``PATH``, then beside the hub's own Python
(``pip install uv`` puts it there), then through the ``uv`` package's ``find_uv_bin()``.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .context import fail, out

app = typer.Typer(
    help="Bridged connectors: Singer taps and targets, Airbyte sources.", no_args_is_help=True
)

HOME_ENV = "SPOKEHUB_BRIDGE_HOME"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def bridge_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path(".spokehub") / "bridges")


def find_uv() -> str | None:
    """The uv executable, or ``None`` (see the module's docstring for the order)."""
    named = os.environ.get("SPOKEHUB_UV")
    if named:
        return named
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    try:
        import uv  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return str(uv.find_uv_bin())


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(venv: Path, package: str) -> str | None:
    """The version of ``package`` in ``venv``, from its ``.dist-info`` folder."""
    wanted = _normalized(package)
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        if _normalized(name) == wanted:
            return version
    return None


def executables(venv: Path, package: str) -> list[str]:
    """The console scripts ``package`` declares (what a connection's ``executable`` names)."""
    wanted = _normalized(package)
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name = info.name.removesuffix(".dist-info").rpartition("-")[0]
        if _normalized(name) != wanted:
            continue
        points = info / "entry_points.txt"
        if not points.is_file():
            return []
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment, method-assign]
        parser.read(points)
        return sorted(parser["console_scripts"]) if "console_scripts" in parser else []
    return []


@app.command("install")
def install_command(
    spec: Annotated[
        str, typer.Argument(help="The package: tap-jsonl, tap-jsonl==0.3.1, airbyte-source-faker")
    ],
    python: Annotated[
        str | None,
        typer.Option(help="The Python its environment uses (3.11, a path); default the hub's."),
    ] = None,
) -> None:
    """Install a connector from the package index into its own virtual environment."""
    match = _NAME.match(spec)
    if match is None:
        fail(f"{spec!r}: not a package name (tap-jsonl, tap-jsonl==0.3.1)")
    package = re.split(r"[\[<>=!~; ]", match.group(0))[0]
    uv = find_uv()
    if uv is None:
        fail("uv was not found: install it (pip install uv) or set SPOKEHUB_UV to its path")
    venv = bridge_home() / package
    venv.parent.mkdir(parents=True, exist_ok=True)
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run(
                [uv, "venv", "--quiet", "--python", python or sys.executable, str(venv)],
                check=True,
            )
        # Compiled now, once: connectors run with the hub's environment, which may
        # forbid writing bytecode, and would otherwise compile on every run.
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(venv / "bin" / "python"),
                spec,
            ],
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        fail(f"installing {spec} failed (uv exited with {exc.returncode}; see above)")
    version = installed_version(venv, package) or "?"
    scripts = ", ".join(executables(venv, package)) or "none"
    out.print(f"installed {package} {version} in {venv} (executables: {scripts})")


@app.command("list")
def list_command() -> None:
    """The installed bridged connectors, their versions and executables."""
    home = bridge_home()
    venvs = sorted(p for p in home.iterdir() if (p / "bin").is_dir()) if home.is_dir() else []
    if not venvs:
        out.print(f"no bridged connector installed in {home}; try: spokehub bridge install NAME")
        return
    table = Table("connector", "version", "executables", "environment", title="bridged connectors")
    for venv in venvs:
        table.add_row(
            venv.name,
            installed_version(venv, venv.name) or "(not installed)",
            ", ".join(executables(venv, venv.name)),
            str(venv),
        )
    out.print(table)

"""The spokehub demo: a fresh project on the embedded store, driven through the real CLI.

Run with ``make demo``. Everything happens in ``demo-out/`` (recreated each run); every
step calls the installed ``spokehub`` command, as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "demo-out"
SPOKEHUB = [sys.executable, "-m", "spokehub"]
console = Console()


def step(title: str) -> None:
    console.print(Rule(f"[bold]{title}"))


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    console.print(f"[dim]$ spokehub {' '.join(args)}[/dim]")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
    result = subprocess.run(
        [*SPOKEHUB, *args], cwd=WORK, env=env, capture_output=True, text=True, timeout=300
    )
    if result.stdout.strip():
        console.print(result.stdout.rstrip(), highlight=False)
    if result.stderr.strip():
        console.print(result.stderr.rstrip(), style="yellow", highlight=False)
    if check and result.returncode != 0:
        console.print(f"[red]demo step failed (exit {result.returncode})[/red]")
        sys.exit(result.returncode)
    return result


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()

    step("1. A new project on the embedded SQLite store")
    run("--version")
    run("init")
    run("config", "validate")
    run("db", "upgrade")

    step("2. Spokes are found through entry points, like third-party ones")
    run("spokes")
    run("check")

    step("3. A broken project file is refused with the YAML path and the rule")
    bad = WORK / "broken.yaml"
    bad.write_text(
        "version: 1\nserver: {port: eighty}\nconnections:\n"
        "  crm: {kind: destination, spoke: hubspott}\n"
    )
    result = run("-c", "broken.yaml", "config", "validate", check=False)
    assert result.returncode == 2, "a broken config must exit 2"

    console.print("\n[bold green]demo finished[/bold green]")


if __name__ == "__main__":
    main()

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def make_fake_distribution(root: Path, dist: str, ep_name: str, module: str, code: str) -> None:
    """Install a minimal distribution (dist-info + module) into ``root`` for sys.path use."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[spokehub]\n{ep_name} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(code))


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run the real ``spokehub`` command in a subprocess, in ``tmp_path``."""

    def run(*args: str, env: dict[str, str] | None = None, extra_path: Path | None = None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
        full_env.update(env or {})
        if extra_path is not None:
            full_env["PYTHONPATH"] = str(extra_path)
        return subprocess.run(
            [sys.executable, "-m", "spokehub", *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run

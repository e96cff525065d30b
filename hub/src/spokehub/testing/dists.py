"""Fake installed distributions, for tests of plugin loading."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_fake_distribution(root: Path, dist: str, ep_name: str, module: str, code: str) -> None:
    """Write a minimal distribution (dist-info with a ``spokehub`` entry point, plus its
    module) into ``root``, to be put on ``PYTHONPATH``."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[spokehub]\n{ep_name} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(code))

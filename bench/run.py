"""Run every benchmark in this folder, one after another, each in its own process.

``make bench`` calls this. Each benchmark prints its own absolute rates and its ratio
against an honest baseline measured in the same run; this runner only sequences them and
passes extra arguments through (``make bench BENCH_ARGS="--quick"``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    only = [a for a in argv if not a.startswith("-")]
    flags = [a for a in argv if a.startswith("-")]
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py")
    if only:
        scripts = [p for p in scripts if p.stem in only]
    worst = 0
    for script in scripts:
        print(f"\n=== bench/{script.name} ===", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(script), *flags]))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

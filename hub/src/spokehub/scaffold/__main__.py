"""``python -m spokehub.scaffold NAME --source|--destination [--dir PATH]``: write a new
spoke package (``spokes/NAME`` unless ``--dir`` names another place)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .generate import ScaffoldError, SpokeNames, new_spoke


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spokehub.scaffold", description=__doc__)
    parser.add_argument("name", help="the spoke's name, e.g. acme-crm")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--source", dest="kind", action="store_const", const="source")
    kind.add_argument("--destination", dest="kind", action="store_const", const="destination")
    parser.add_argument("--dir", type=Path, help="where to write it (default: spokes/NAME)")
    args = parser.parse_args(argv)
    directory = args.dir or Path("spokes") / args.name
    try:
        files = new_spoke(args.name, args.kind, directory)
        names = SpokeNames.of(args.name)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {names.dist} ({args.kind}) to {directory}: {len(files)} files")
    print(f"next: pip install -e '{directory}[test]' && pytest {directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

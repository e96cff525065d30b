"""``spokehub new``: start a new package from a template (today: a spoke)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ..scaffold import ScaffoldError, SpokeNames, new_spoke
from .context import fail, out

app = typer.Typer(
    help="Start a new package from a template: spokehub new spoke NAME.", no_args_is_help=True
)


class Kind(StrEnum):
    source = "source"
    destination = "destination"


@app.command("spoke")
def spoke_cmd(
    name: Annotated[str, typer.Argument(help="the spoke's name, e.g. acme-crm")],
    source: Annotated[bool, typer.Option("--source", help="a source spoke")] = False,
    destination: Annotated[bool, typer.Option("--destination", help="a destination spoke")] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="where to write it (default: spokes/NAME)")
    ] = None,
) -> None:
    """Write a ready spoke package: pyproject with its entry point, README, config model,
    spoke class on the toolkit's client, a sandbox of its vendor and tests running the
    conformance suite. It installs with spokehub-contracts alone and passes its own tests."""
    if source == destination:
        fail("choose one of --source or --destination")
    kind = Kind.source if source else Kind.destination
    target = directory or Path("spokes") / name
    try:
        files = new_spoke(name, kind.value, target)
        names = SpokeNames.of(name)
    except ScaffoldError as exc:
        fail(str(exc))
    out.print(
        f"wrote {names.dist} ({kind.value}) to {target}: {len(files)} files",
        highlight=False,
        markup=False,
    )
    out.print(
        f"next: pip install -e '{target}[test]' && pytest {target}", highlight=False, markup=False
    )

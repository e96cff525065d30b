"""``spokehub init``: a starter project to try the hub on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..envfile import ENV_FILE
from ..starter import write_starter
from .context import fail, out

app = typer.Typer()


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Create a starter project: spokehub.yaml and sample data."""
    try:
        written = write_starter(directory, force=force)
    except FileExistsError as exc:
        fail(str(exc))
    for path in written:
        out.print(f"created {path}")
        if path.name == ENV_FILE:
            out.print(
                f"{path} holds the admin token and the website's write key: "
                "keep it out of version control"
            )
    out.print("next: spokehub config validate && spokehub db upgrade")

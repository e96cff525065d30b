"""``spokehub sync``: pulling from sources now, instead of on their schedule."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ..sync import sync_connection
from .context import err, fail, out, state
from .store import migrated_engine

app = typer.Typer(help="Pull from sources.", no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
) -> None:
    """Pull every stream of the pull sources (or one) once, from the saved state."""
    st = state(ctx)
    project = st.project
    pullable = [n for n, c in sorted(project.sources().items()) if c.spoke is not None]
    if connection is not None:
        if connection not in pullable:
            fail(f"no pull source connection {connection!r} in {st.config_path}")
        pullable = [connection]
    engine = migrated_engine(st)
    worst = 0
    for name in pullable:
        try:
            stats = asyncio.run(sync_connection(engine, project, st.registry, name))
        except NotImplementedError:
            continue  # a push-only source
        except Exception as exc:
            err.print(f"[red]{name}: failed ({type(exc).__name__})[/red]")
            worst = 1
            continue
        out.print(
            f"{name}: {stats.records} record(s), {stats.checkpoints} checkpoint(s) "
            f"from {stats.streams} stream(s), {stats.rejected} row(s) quarantined"
        )
    raise typer.Exit(worst)

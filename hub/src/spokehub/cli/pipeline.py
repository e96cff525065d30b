"""``spokehub pipeline``: inbox rows into profiles and the outbox."""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Annotated

import typer

from ..pipeline import Pipeline
from ..pipeline.child import follow_parent
from .context import out, state
from .store import breaking_changes_fail, migrated_engine

app = typer.Typer(help="Process the inbox.", no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Process what is pending now, then exit.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Inbox rows per transaction.")] = 200,
    follow_stdin: Annotated[
        bool,
        typer.Option(
            "--follow-stdin",
            hidden=True,
            help="Started by 'serve': a line on stdin wakes the worker, end of input stops it.",
        ),
    ] = False,
) -> None:
    """Process inbox rows into profiles and the outbox (all pending with --once)."""
    st = state(ctx)
    engine = migrated_engine(st)
    with breaking_changes_fail():  # the worker publishes the project's contract first
        pipeline = Pipeline(engine, st.project, st.registry, batch_size=batch_size)
    # As ``serve`` does: what is loaded by now lives as long as the process; out of the
    # collector's sight, its full passes no longer walk it at every few batches.
    gc.collect()
    gc.freeze()
    if once:
        stats = pipeline.drain()
        out.print(
            f"processed {stats.processed}, quarantined {stats.quarantined}, "
            f"dropped {stats.dropped}, outbox rows {stats.outbox}"
        )
        return

    async def forever() -> None:
        stop, wake = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if follow_stdin:
            follow_parent(stop, wake)
        await pipeline.run(stop, wake)

    asyncio.run(forever())

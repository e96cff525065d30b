"""``spokehub sync``: pulling from sources now, and the record of every run."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from ..sync import LeaseHeld, SyncStats, sync_connection
from ..sync import runs as sync_runs
from .context import CliState, err, fail, out, state
from .store import migrated_engine, store_engine

app = typer.Typer(help="Pull from sources; see their runs.", no_args_is_help=True)


def _when(value: object) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


async def _run_one(
    engine: Engine, st: CliState, name: str, *, full_refresh: bool, show_progress: bool
) -> SyncStats:
    """One connection's run, stopped at its next checkpoint by SIGTERM or Ctrl-C."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stopped_by = ["a stop request"]

    def on_signal(signame: str) -> None:
        stopped_by[0] = signame
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        if not show_progress:
            return await sync_connection(
                engine,
                st.project,
                st.registry,
                name,
                full_refresh=full_refresh,
                stop=stop,
                stop_reason=lambda: stopped_by[0],
            )
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
        )

        # Sources rarely know their size up front: the bar pulses, and the figures are
        # committed records, rejected rows and checkpoints, with the rate.
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records · {task.fields[rejected]} rejected · {task.fields[ckpt]} ckpt"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=out,
            transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}
            done: dict[str, int] = {}
            started = loop.time()

            def progress(stream: str, records: int, rejected: int, checkpoints: int) -> None:
                task = tasks.get(stream)
                if task is None:
                    task = tasks[stream] = bar.add_task(
                        f"{name}/{stream}", total=None, rejected=0, ckpt=0, rate=""
                    )
                done[stream] = records
                elapsed = max(loop.time() - started, 1e-6)
                bar.update(
                    task,
                    completed=records,
                    rejected=rejected,
                    ckpt=checkpoints,
                    rate=f"{records / elapsed:,.0f}/s",
                )

            stats = await sync_connection(
                engine,
                st.project,
                st.registry,
                name,
                full_refresh=full_refresh,
                stop=stop,
                stop_reason=lambda: stopped_by[0],
                progress=lambda *a: loop.call_soon_threadsafe(progress, *a),
            )
            for stream, task in tasks.items():
                bar.update(task, total=done[stream])
            return stats
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


@app.command("run")
def run(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Read every stream from the beginning and enter every record again.",
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="A progress bar (default: on a terminal)."),
    ] = None,
) -> None:
    """Pull every stream of the pull sources (or one) once, from the saved state.

    SIGTERM or Ctrl-C stops a run at its next checkpoint, which it commits; the run's
    record says so. Exit code 1 if a stream failed or another process holds the source.
    """
    st = state(ctx)
    project = st.project
    pullable = [n for n, c in sorted(project.sources().items()) if c.spoke is not None]
    if connection is not None:
        if connection not in pullable:
            fail(f"no pull source connection {connection!r} in {st.config_path}")
        pullable = [connection]
    engine = migrated_engine(st)
    show = out.is_terminal if progress is None else progress
    worst = 0
    for name in pullable:
        try:
            stats = asyncio.run(
                _run_one(engine, st, name, full_refresh=full_refresh, show_progress=show)
            )
        except NotImplementedError:
            continue  # a push-only source
        except LeaseHeld as exc:
            err.print(f"[yellow]{exc}[/yellow]")
            worst = 1
            continue
        except Exception as exc:
            err.print(f"[red]{name}: failed ({type(exc).__name__})[/red]")
            worst = 1
            continue
        out.print(
            f"{name}: {stats.records} record(s), {stats.checkpoints} checkpoint(s) "
            f"from {stats.streams} stream(s), {stats.rejected} row(s) quarantined"
        )
        for stream, error in stats.failed:
            err.print(f"[red]{name}/{stream}: failed: {error}[/red]")
            worst = 1
        if stats.interrupted is not None:
            err.print(f"[yellow]{name}: {stats.interrupted}[/yellow]")
            raise typer.Exit(130 if worst == 0 else worst)
    raise typer.Exit(worst)


@app.command("status")
def status(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
    history: Annotated[
        int, typer.Option("--history", "-n", help="Show the last N runs instead.", min=0)
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The last run of each stream (or the last N runs): status, counts, error."""
    st = state(ctx)
    engine = store_engine(st)
    with engine.connect() as conn:
        if history or connection is not None:
            shown = sync_runs.recent(conn, connection=connection, limit=history or 50)
        else:
            shown = sync_runs.latest_per_stream(conn)
    if as_json:
        out.print_json(data=[r.model_dump(mode="json") for r in shown])
        return
    if not shown:
        out.print("no sync runs yet")
        return
    table = Table(title="Sync runs")
    for col in (
        "run",
        "source",
        "stream",
        "status",
        "started",
        "finished",
        "records",
        "rejected",
        "ckpt",
        "error / note",
    ):
        table.add_column(col)
    colour = {"succeeded": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
    for r in shown:
        table.add_row(
            str(r.id),
            r.connection,
            r.stream,
            f"[{colour[r.status]}]{r.status}[/]" + (" (full)" if r.full_refresh else ""),
            _when(r.started_at),
            _when(r.finished_at),
            str(r.records),
            str(r.rejected),
            str(r.checkpoints),
            " · ".join(filter(None, (r.error, r.notes))),
        )
    out.print(table)

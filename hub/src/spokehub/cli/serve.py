"""``spokehub serve``: the daemon."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from ..daemon import serve as run_daemon
from ..tokens import is_loopback
from .context import fail, state
from .store import breaking_changes_fail, migrated_engine

app = typer.Typer()


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (server.port).")] = None,
    api_only: Annotated[
        bool, typer.Option(help="Serve the API only: no pipeline, sync or delivery.")
    ] = False,
    pipeline_workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Pipeline worker processes (PostgreSQL; SQLite has one writer).",
        ),
    ] = 1,
) -> None:
    """Run the hub: ingestion API, pipeline, scheduled pulls and delivery, until SIGTERM."""
    st = state(ctx)
    bind = host or st.project.server.host
    if not is_loopback(bind):
        weak = st.project.weak_credentials()
        if weak:
            fail(
                f"refusing to serve on {bind}, which other machines can reach: "
                + "; ".join(weak)
                + " (spokehub tokens new prints a strong token; 127.0.0.1 keeps to this machine)"
            )
    engine = migrated_engine(st)
    if pipeline_workers > 1 and engine.dialect.name != "postgresql":
        fail(
            f"--pipeline-workers {pipeline_workers} needs a PostgreSQL store: SQLite has one"
            " writer, so a second pipeline worker would only wait for the first"
        )
    # The pipeline runs in a process of its own (``pipeline run --follow-stdin``), so its
    # CPU work never holds the API's GIL.
    pipeline_command = [
        sys.executable,
        "-m",
        "spokehub",
        "-c",
        str(st.config_path.resolve()),
        *(["--log-format", st.log_format] if st.log_format else []),
        "pipeline",
        "run",
        "--follow-stdin",
    ]
    with breaking_changes_fail(), asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(
            run_daemon(
                st.project,
                st.registry,
                engine,
                host=host,
                port=port,
                workers=not api_only,
                pipeline_command=pipeline_command,
                pipeline_workers=pipeline_workers,
            )
        )


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (not on Windows): the daemon's request
    handling spends a good part of its time in the loop itself."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop

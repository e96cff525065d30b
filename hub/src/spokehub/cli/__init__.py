"""The ``spokehub`` command.

Each command lives in a module of this package, imported only when the command runs
(:mod:`spokehub.cli.lazy`): ``spokehub --help`` loads Typer alone, and ``spokehub config
validate`` the project file's models and the spokes, never the store, the pipeline or the
HTTP stack. What the commands share (the project, the registry, the consoles and
``fail``) is :mod:`spokehub.cli.context`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .. import DEFAULT_FILE, __version__
from .lazy import Deferred, LazyGroup
from .options import Options

__all__ = ["app", "main"]


class _Commands(LazyGroup):
    deferred = (
        Deferred("init", "Create a starter project: spokehub.yaml and sample data.", group=False),
        Deferred("config", "Work with the project file."),
        Deferred(
            "spokes", "List installed spokes and plugins with their capabilities.", group=False
        ),
        Deferred(
            "check", "Check connections: credentials accepted and vendor reachable.", group=False
        ),
        Deferred("db", "Manage the store."),
        Deferred(
            "serve",
            "Run the hub: ingestion API, pipeline, scheduled pulls and delivery, until SIGTERM.",
            group=False,
        ),
        Deferred("pipeline", "Process the inbox."),
        Deferred("quarantine", "Records that broke the contract."),
        Deferred("sync", "Pull from sources; see their runs."),
        Deferred("bridge", "Bridged connectors: Singer taps and targets, Airbyte sources."),
        Deferred("deliveries", "Delivery lanes: status, replay, pause/resume, run."),
        Deferred("profiles", "Look at, explain and repair profiles."),
        Deferred("identity", "Identity resolution rules."),
        Deferred(
            "audiences", "Audiences: who is in each, a preview of a definition, a reconcile now."
        ),
        Deferred("journeys", "Journeys: timers waiting, fired, cancelled; fire due ones now."),
        Deferred("contract", "The data contract: declared traits and events."),
        Deferred("tokens", "API tokens and their scopes."),
        Deferred(
            "privacy",
            "Erasure, suppression and access requests, with a receipt per destination.",
        ),
        Deferred("new", "Start a new package from a template: spokehub new spoke NAME."),
    )


app = typer.Typer(
    name="spokehub",
    cls=_Commands,
    help="spokehub: one customer truth, every tool in sync.",
    no_args_is_help=True,
    # Plain help, as click writes it: Rich's help formatter alone takes longer to import
    # than the rest of `spokehub --help` together.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"spokehub {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option("--config", "-c", envvar="SPOKEHUB_CONFIG", help="The project file."),
    ] = Path(DEFAULT_FILE),
    log_format: Annotated[
        str | None, typer.Option(help="console or json (default: console on a terminal)")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    ctx.obj = Options(config_path=config, log_format=log_format)


def main() -> None:
    """The console script: ``app`` with Ctrl-C as exit code 130."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

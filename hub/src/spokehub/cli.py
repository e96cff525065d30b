"""The ``spokehub`` command."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from spokehub_contracts import CheckResult, CheckStatus

from . import __version__
from .config import DEFAULT_FILE, ConfigErrors, Project, load
from .envfile import ENV_FILE, project_environment
from .identity import IdentityRules
from .logs import configure_logging
from .registry import Registry, RegistryError

app = typer.Typer(
    name="spokehub",
    help="spokehub: one customer truth, every tool in sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Work with the project file.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Process the inbox.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Records that broke the contract.", no_args_is_help=True)
sync_app = typer.Typer(help="Pull from sources.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(sync_app, name="sync")

out = Console()
err = Console(stderr=True)


@dataclass
class CliState:
    """Lazily loaded project and registry, shared by every command of one invocation."""

    config_path: Path
    _registry: Registry | None = None
    _project: Project | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            try:
                self._registry = Registry.load()
            except RegistryError as exc:
                fail(str(exc))
        return self._registry

    @property
    def project(self) -> Project:
        if self._project is None:
            try:
                env = project_environment(self.config_path)
                self._project = load(self.config_path, self.registry, env=env)
            except ConfigErrors as exc:
                for problem in exc.errors:
                    err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
        return self._project

    @property
    def store_url(self) -> str:
        return self.project.store.url

    @property
    def identity(self) -> IdentityRules:
        return self.project.identity


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        out.print(f"spokehub {__version__}")
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
    configure_logging(json_output=None if log_format is None else log_format == "json")
    ctx.obj = CliState(config_path=config, extra={"log_format": log_format})


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Create a starter project: spokehub.yaml and sample data."""
    from .starter import write_starter

    try:
        written = write_starter(directory, force=force)
    except FileExistsError as exc:
        fail(str(exc))
    for path in written:
        out.print(f"created {path}")
        if path.name == ENV_FILE:
            out.print(f"{path} holds the admin token: keep it out of version control")
    out.print("next: spokehub config validate && spokehub db upgrade")


@config_app.command("validate")
def config_validate(ctx: typer.Context) -> None:
    """Check the project file, including every connection's spoke config."""
    project = state(ctx).project
    out.print(
        f"{state(ctx).config_path}: ok — {len(project.sources())} source(s), "
        f"{len(project.destinations())} destination(s), {len(project.routes)} route(s)"
    )


@app.command()
def spokes(ctx: typer.Context) -> None:
    """List installed spokes and plugins with their capabilities."""
    registry = state(ctx).registry
    table = Table(title="Installed spokes and plugins")
    for col in ("kind", "name", "distribution", "capabilities"):
        table.add_column(col)
    groups = (
        ("source", registry.sources),
        ("destination", registry.destinations),
        ("transform", registry.transforms),
        ("enricher", registry.enrichers),
        ("matcher", registry.matchers),
    )
    for kind, entries in groups:
        for name, reg in sorted(entries.items()):
            caps = getattr(reg.cls, "capabilities", None)
            table.add_row(
                kind, name, f"{reg.distribution} {reg.version}", _caps(caps) if caps else ""
            )
    out.print(table)
    for failure in registry.failures:
        err.print(
            f"[yellow]warning:[/yellow] distribution {failure.distribution!r} "
            f"(entry point {failure.entry_point!r}) failed to load: {failure.error}",
            highlight=False,
            soft_wrap=True,
        )


def _caps(caps: Any) -> str:
    parts = []
    if caps.record_kinds:
        parts.append("kinds=" + ",".join(caps.record_kinds))
    parts.append(f"batch={caps.batch_size}")
    if caps.rate_limit:
        parts.append(f"rate={caps.rate_limit.requests}/{caps.rate_limit.per_seconds:g}s")
    if caps.identifier_types:
        parts.append("match=" + ",".join(caps.identifier_types))
    if caps.incremental:
        parts.append("incremental")
    if caps.webhooks:
        parts.append("webhooks")
    if caps.can_delete:
        parts.append("can-delete")
    return " ".join(parts)


@app.command()
def check(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Argument(help="Only this connection.")] = None,
) -> None:
    """Check connections: credentials accepted and vendor reachable."""
    st = state(ctx)
    project = st.project
    names = [connection] if connection else sorted(project.connections)
    if connection and connection not in project.connections:
        fail(f"no connection {connection!r} in {st.config_path}")
    worst = 0
    for name in names:
        result = asyncio.run(_check_one(st, project, name))
        colour = "green" if result.ok else "red"
        out.print(f"{name}: [{colour}]{result.status.value}[/{colour}] {result.message}")
        if not result.ok:
            worst = 1
    raise typer.Exit(worst)


async def _check_one(st: CliState, project: Project, name: str) -> CheckResult:
    conn = project.connections[name]
    if conn.spoke is None:
        return CheckResult(status=CheckStatus.OK, message="HTTP API source")
    table = st.registry.sources if conn.kind == "source" else st.registry.destinations
    spoke = table[conn.spoke].cls(project.spoke_configs[name], connection=name)
    try:
        return await spoke.check()
    except Exception as exc:  # a spoke bug must not hide the other connections' results
        return CheckResult(status=CheckStatus.UNREACHABLE, message=type(exc).__name__)
    finally:
        await spoke.aclose()


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the store's tables (SQLite or PostgreSQL)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .store import create_store_engine, upgrade

    url = state(ctx).store_url
    try:
        engine = create_store_engine(url)
        revision = upgrade(engine)
    except SQLAlchemyError as exc:
        fail(f"store: {type(exc.orig or exc).__name__}: cannot migrate (is the database up?)")
    except ModuleNotFoundError as exc:
        fail(f"store: driver missing ({exc.name}); install 'spokehub[postgres]' for PostgreSQL")
    out.print(f"store at revision {revision}")


def _engine(st: CliState) -> Any:
    """A migrated store engine (migrations are idempotent; a daemon may start on a new
    database)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .store import create_store_engine, upgrade

    try:
        engine = create_store_engine(st.store_url)
        upgrade(engine)
    except SQLAlchemyError as exc:
        fail(f"store: {type(exc.orig or exc).__name__}: cannot open (is the database up?)")
    return engine


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (server.port).")] = None,
    api_only: Annotated[
        bool, typer.Option(help="Serve the API only: no pipeline, sync or delivery.")
    ] = False,
) -> None:
    """Run the hub: ingestion API, pipeline, scheduled pulls and delivery, until SIGTERM."""
    from .daemon import serve as run_daemon

    st = state(ctx)
    engine = _engine(st)
    # The pipeline runs in a process of its own (``pipeline run --follow-stdin``), so its
    # CPU work never holds the API's GIL.
    log_format = st.extra.get("log_format")
    pipeline_command = [
        sys.executable,
        "-m",
        "spokehub",
        "-c",
        str(st.config_path.resolve()),
        *(["--log-format", log_format] if log_format else []),
        "pipeline",
        "run",
        "--follow-stdin",
    ]
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(
            run_daemon(
                st.project,
                st.registry,
                engine,
                host=host,
                port=port,
                workers=not api_only,
                pipeline_command=pipeline_command,
            )
        )


def _event_loop_factory() -> Any:
    """uvloop's event loop where it is installed (not on Windows): the daemon's request
    handling spends a good part of its time in the loop itself."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@pipeline_app.command("run")
def pipeline_run(
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
    from .pipeline import Pipeline

    st = state(ctx)
    pipeline = Pipeline(_engine(st), st.project, st.registry, batch_size=batch_size)
    if once:
        stats = pipeline.drain()
        out.print(
            f"processed {stats.processed}, quarantined {stats.quarantined}, "
            f"dropped {stats.dropped}, outbox rows {stats.outbox}"
        )
        return

    async def forever() -> None:
        import signal

        stop, wake = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if follow_stdin:
            from .daemon import follow_parent

            follow_parent(stop, wake)
        await pipeline.run(stop, wake)

    asyncio.run(forever())


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed records.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """List quarantined records with the field and rule each broke."""
    from .pipeline import list_quarantine

    rows = list_quarantine(
        _engine(state(ctx)), connection=connection, include_replayed=all_, limit=limit
    )
    table = Table(title=f"Quarantine ({len(rows)})")
    for col in ("id", "source", "stage", "field", "rule", "at", "replayed"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.id),
            r.connection,
            r.stage,
            r.field,
            r.rule,
            r.created_at.isoformat(timespec="seconds"),
            r.replayed_at.isoformat(timespec="seconds") if r.replayed_at else "",
        )
    out.print(table)


@quarantine_app.command("replay")
def quarantine_replay(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Quarantine ids (default: all).")] = None,
    connection: Annotated[str | None, typer.Option(help="Only this source.")] = None,
) -> None:
    """Send quarantined records through the pipeline again (after fixing the cause)."""
    from .pipeline import replay

    count = replay(_engine(state(ctx)), ids or None, connection=connection)
    out.print(f"replayed {count} record(s) into the inbox")


@sync_app.command("run")
def sync_run(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
) -> None:
    """Pull every stream of the pull sources (or one) once, from the saved state."""
    from .sync import sync_connection

    st = state(ctx)
    project = st.project
    pullable = [n for n, c in sorted(project.sources().items()) if c.spoke is not None]
    if connection is not None:
        if connection not in pullable:
            fail(f"no pull source connection {connection!r} in {st.config_path}")
        pullable = [connection]
    engine = _engine(st)
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


def _mount_optional() -> None:
    # Sub-commands of parts that register their own typer apps.
    from .datacontract.cli import contract_app

    app.add_typer(contract_app, name="contract")
    from .delivery.cli import deliveries_app

    app.add_typer(deliveries_app, name="deliveries")
    try:
        from .identity.cli import identity_app, profiles_app
    except ImportError:
        return
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(identity_app, name="identity")


_mount_optional()


def main() -> None:
    from .datacontract.store import BreakingChange

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except BreakingChange as exc:
        for change in exc.changes:
            err.print(f"breaking: {change.where}: {change.what}", highlight=False)
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)

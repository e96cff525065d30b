"""``spokehub audiences``: list, show, preview and reconcile the project's audiences."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml
from pydantic import TypeAdapter, ValidationError

from .._errors import pydantic_config_errors
from ..activation import Activation
from ..audiences.conditions import Condition
from ..audiences.definitions import Audience
from ..audiences.status import AudienceSummary, detail, preview, summaries
from ..clock import OffsetClock
from .context import CliState, fail, out, state
from .listing import print_listing
from .store import store_engine

app = typer.Typer(
    help="Audiences: who is in each, a preview of a definition, a reconcile now.",
    no_args_is_help=True,
)


def _clock() -> OffsetClock:
    try:
        return OffsetClock.from_env()
    except ValueError as exc:
        fail(str(exc))


def _audience(st: CliState, name: str) -> Audience:
    audience = st.project.audiences.get(name)
    if audience is None:
        known = ", ".join(sorted(st.project.audiences)) or "none"
        fail(f"no audience {name!r} (audiences: {known})")
    return audience


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every audience: members now, destinations, whether time moves it, last reconcile."""
    st = state(ctx)

    def row(s: AudienceSummary) -> list[str]:
        when = s.reconciled_at.isoformat(timespec="seconds") if s.reconciled_at else "never"
        return [s.name, str(s.members), ", ".join(s.to), "yes" if s.time_based else "", when]

    print_listing(
        summaries(store_engine(st), st.project.audiences),
        as_json=as_json,
        title="Audiences",
        columns=("audience", "members", "to", "time-based", "reconciled"),
        row=row,
    )


@app.command("show")
def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The audience.")],
    limit: Annotated[int, typer.Option(help="How many of the latest entrants to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One audience: its definition, size and latest entrants."""
    st = state(ctx)
    d = detail(store_engine(st), name, _audience(st, name), limit)
    if as_json:
        out.print_json(data=d.model_dump(mode="json"))
        return
    out.print(f"[bold]{d.name}[/bold] {d.description}".rstrip(), highlight=False)
    out.print(yaml.safe_dump({"where": d.where}, sort_keys=False).rstrip(), highlight=False)
    out.print(f"to: {', '.join(d.to) or '(no destination)'}", highlight=False)
    out.print(f"members: {d.members} (left: {d.exited})")
    for m in d.recent_members:
        out.print(f"  {m.contact_id}  entered {m.entered_at.isoformat(timespec='seconds')}")


@app.command("preview")
def preview_command(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="An audience of the project file.")] = None,
    where: Annotated[
        str | None,
        typer.Option(help="A condition in YAML instead, e.g. '{event: Order Completed}'."),
    ] = None,
    sample: Annotated[int, typer.Option(help="How many matching contact IDs to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How many profiles a definition selects now, counted over the whole store; writes
    nothing and sends nothing."""
    st = state(ctx)
    if (name is None) == (where is None):
        fail("name an audience or give --where, not both")
    if where is not None:
        try:
            condition = TypeAdapter(Condition).validate_python(yaml.safe_load(where))
        except yaml.YAMLError:
            fail("--where: not valid YAML")
        except ValidationError as exc:
            fail("; ".join(f"{e.path}: {e.rule}" for e in pydantic_config_errors(exc, "where")))
    else:
        condition = _audience(st, name or "").where
    result = preview(store_engine(st), condition, st.project.identity, _clock().now(), sample)
    if as_json:
        out.print_json(data=result.model_dump(mode="json"))
        return
    out.print(f"{result.matching} of {result.profiles} profiles match")
    for contact in result.sample:
        out.print(f"  {contact}")


@app.command("reconcile")
def reconcile_command(
    ctx: typer.Context,
    full: Annotated[
        bool, typer.Option("--full", help="Decide every audience for every profile.")
    ] = False,
) -> None:
    """Bring membership up to date now (the daemon does this on its schedule): what time
    moved, and new or changed definitions in full. Entries and exits go to the outbox."""
    st = state(ctx)
    stats = Activation(st.project, _clock()).reconcile(store_engine(st), full=full)
    for name in sorted(st.project.audiences):
        out.print(
            f"{name}: decided {stats.decided.get(name, 0)}, entered {stats.entered.get(name, 0)},"
            f" exited {stats.exited.get(name, 0)}" + (" (in full)" if name in stats.full else "")
        )

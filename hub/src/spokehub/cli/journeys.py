"""``spokehub journeys``: the journeys with their timers, and firing due timers now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..activation import Activation
from ..clock import OffsetClock
from ..journeys.status import journey_summaries
from .context import fail, out, state
from .store import store_engine

app = typer.Typer(
    help="Journeys: timers waiting, fired, cancelled; fire due ones now.", no_args_is_help=True
)


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every journey: its trigger, delay and destination, and its timers by status."""
    st = state(ctx)
    found = journey_summaries(store_engine(st), st.project.journeys)
    if as_json:
        out.print_json(data=[s.model_dump(mode="json") for s in found])
        return
    table = Table(title="Journeys")
    for col in ("journey", "trigger", "after", "sends", "to", "waiting", "fired", "cancelled"):
        table.add_column(col)
    for s in found:
        table.add_row(
            s.name,
            s.trigger,
            s.after,
            s.sends,
            s.to,
            str(s.scheduled),
            str(s.fired),
            str(s.cancelled),
        )
    out.print(table)


@app.command("fire")
def fire_command(ctx: typer.Context) -> None:
    """Fire the timers due now (the daemon does this every few seconds); each fires once
    whichever process gets it."""
    st = state(ctx)
    try:
        clock = OffsetClock.from_env()
    except ValueError as exc:
        fail(str(exc))
    stats = Activation(st.project, clock).fire(store_engine(st))
    out.print(f"fired {stats.fired}, cancelled {stats.cancelled}")
    for reason, n in sorted(stats.reasons.items()):
        out.print(f"  cancelled {n}: {reason}")

"""``spokehub journeys``: the journeys with their timers, and firing due timers now."""

from __future__ import annotations

from typing import Annotated

import typer

from ..activation import Activation
from ..clock import OffsetClock
from ..journeys.status import journey_summaries
from .context import fail, out, state
from .listing import print_listing
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
    print_listing(
        journey_summaries(store_engine(st), st.project.journeys),
        as_json=as_json,
        title="Journeys",
        columns=("journey", "trigger", "after", "sends", "to", "waiting", "fired", "cancelled"),
        row=lambda s: (
            s.name,
            s.trigger,
            s.after,
            s.sends,
            s.to,
            str(s.scheduled),
            str(s.fired),
            str(s.cancelled),
        ),
    )


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

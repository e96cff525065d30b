"""``spokehub deliveries``: lane status, replay, pause and resume, and running lanes."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from ..delivery import build_lanes, run_lanes
from ..delivery import state as lane_state
from ..delivery.replay import parse_since, replay
from ..delivery.status import LaneStatus, lane_status
from .context import CliState, fail, out, state
from .listing import print_listing
from .store import store_engine

app = typer.Typer(help="Delivery lanes: status, replay, pause/resume, run.", no_args_is_help=True)


def _destination(st: CliState, connection: str) -> None:
    if connection not in st.project.destinations():
        known = ", ".join(sorted(st.project.destinations())) or "none"
        fail(f"no destination connection {connection!r} (destinations: {known})")


@app.command("status")
def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per lane: queue depth, rate, oldest pending age, dead letters, items consent held
    back (by purpose), last error, running or paused."""
    st = state(ctx)

    def row(lane: LaneStatus) -> list[str]:
        oldest = "" if lane.oldest_pending_seconds is None else f"{lane.oldest_pending_seconds}s"
        return [
            lane.connection,
            lane.state + (f" ({lane.reason})" if lane.reason else ""),
            str(lane.queued),
            f"{lane.rate_per_second:g}",
            oldest,
            str(lane.dead),
            _suppressed(lane.suppressed, lane.suppressed_by_purpose),
            lane.last_error or "",
        ]

    print_listing(
        lane_status(store_engine(st), st.project.destinations()),
        as_json=as_json,
        title="Delivery lanes",
        columns=("lane", "state", "queued", "rate/s", "oldest", "dead", "suppressed", "last error"),
        row=row,
    )


def _suppressed(total: int, by_purpose: dict[str, int]) -> str:
    if not by_purpose:
        return str(total)
    parts = ", ".join(f"{purpose} {n}" for purpose, n in sorted(by_purpose.items()))
    return f"{total} ({parts})"


@app.command("replay")
def replay_command(
    ctx: typer.Context,
    connection: Annotated[str, typer.Argument(help="The destination connection.")],
    since: Annotated[
        str | None, typer.Option(help="ISO time or a duration back from now (30m, 6h, 7d).")
    ] = None,
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Requeue only dead letters, in place.")
    ] = False,
) -> None:
    """Send a destination's items again: every delivered and dead-lettered item since a
    time (as fresh copies), or only the dead letters."""
    st = state(ctx)
    _destination(st, connection)
    try:
        moment = parse_since(since) if since else None
    except ValueError as exc:
        fail(str(exc))
    queued = replay(store_engine(st), connection, since=moment, dead_letters=dead_letters)
    what = "dead letter(s)" if dead_letters else "item(s)"
    out.print(f"{connection}: queued {queued} {what} again")


@app.command("pause")
def pause_command(
    ctx: typer.Context,
    connection: Annotated[str, typer.Argument(help="The destination connection.")],
    reason: Annotated[str, typer.Option(help="Shown by status.")] = "paused by an operator",
) -> None:
    """Stop delivering to a destination until resumed; items wait in the outbox."""
    st = state(ctx)
    _destination(st, connection)
    lane_state.pause(store_engine(st), connection, reason)
    out.print(f"{connection}: paused")


@app.command("resume")
def resume_command(
    ctx: typer.Context,
    connection: Annotated[str, typer.Argument(help="The destination connection.")],
) -> None:
    """Resume a paused lane (for example after fixing its credentials)."""
    st = state(ctx)
    _destination(st, connection)
    was = lane_state.resume(store_engine(st), connection)
    out.print(f"{connection}: {'resumed' if was else 'was not paused'}")


@app.command("run")
def run_command(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
    connection: Annotated[
        str | None, typer.Option(help="Only this destination connection.")
    ] = None,
) -> None:
    """Run the delivery lanes in the foreground (``spokehub serve`` runs them too)."""
    st = state(ctx)
    if connection is not None:
        _destination(st, connection)
    engine = store_engine(st)
    if once:
        lanes = build_lanes(engine, st.project, st.registry, only=connection)

        async def drain() -> list[int]:
            try:
                return list(await asyncio.gather(*(lane.run_once() for lane in lanes)))
            finally:
                for lane in lanes:
                    await lane.spoke.aclose()

        for lane, handled in zip(lanes, asyncio.run(drain()), strict=True):
            out.print(f"{lane.connection}: {handled} item(s) handled")
        return

    async def forever() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_lanes(engine, st.project, st.registry, stop, only=connection)

    asyncio.run(forever())

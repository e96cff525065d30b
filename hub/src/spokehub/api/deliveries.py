"""``/v1/deliveries``: lane status, replay and resume, for operators (scope ``deliveries``).

The router reads the store engine and the project from ``request.app.state`` (``engine``,
``project``), as the other routers do.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..delivery import state as lane_state
from ..delivery.replay import parse_since, replay
from ..delivery.status import LaneStatus, lane_status
from .auth import SCOPED_RESPONSES, scoped

router = APIRouter(
    prefix="/v1/deliveries",
    tags=["deliveries"],
    route_class=scoped("deliveries"),
    responses=SCOPED_RESPONSES,
)


class ReplayRequest(BaseModel):
    since: str | None = Field(
        default=None, description="ISO time or a duration back from now (30m, 6h, 7d)"
    )
    dead_letters: bool = Field(
        default=False, description="requeue dead letters only, in place; else copy all"
    )


class ReplayResult(BaseModel):
    connection: str
    queued: int


class ResumeResult(BaseModel):
    connection: str
    was_paused: bool


def _known(request: Request, connection: str) -> None:
    if connection not in request.app.state.project.destinations():
        raise HTTPException(404, f"no destination connection {connection!r}")


@router.get("/status", response_model=list[LaneStatus])
async def status(request: Request) -> list[LaneStatus]:
    """Every lane: queue depth, rate, oldest pending age, last error, running or paused."""
    names = list(request.app.state.project.destinations())
    return await run_in_threadpool(lane_status, request.app.state.engine, names)


@router.post("/{connection}/replay", response_model=ReplayResult)
async def replay_connection(
    request: Request, connection: str, body: ReplayRequest | None = None
) -> ReplayResult:
    """Queue the connection's delivered and dead-lettered items again (or, with
    ``dead_letters``, only the dead letters)."""
    _known(request, connection)
    body = body or ReplayRequest()
    try:
        since = parse_since(body.since) if body.since else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    queued = await run_in_threadpool(
        replay,
        request.app.state.engine,
        connection,
        since=since,
        dead_letters=body.dead_letters,
    )
    return ReplayResult(connection=connection, queued=queued)


@router.post("/{connection}/resume", response_model=ResumeResult)
async def resume_connection(request: Request, connection: str) -> ResumeResult:
    """Resume a paused lane (after fixing the credentials that paused it)."""
    _known(request, connection)
    was = await run_in_threadpool(lane_state.resume, request.app.state.engine, connection)
    return ResumeResult(connection=connection, was_paused=was)

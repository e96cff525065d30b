"""``/v1/audiences``: the defined audiences with their size, and one with its members
(scope ``profiles:read``: membership lists contact IDs)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from ..audiences.status import AudienceDetail, AudienceSummary, detail, summaries
from .auth import SCOPED_RESPONSES, scoped

router = APIRouter(
    prefix="/v1/audiences",
    tags=["audiences"],
    route_class=scoped("profiles:read"),
    responses=SCOPED_RESPONSES,
)


@router.get("", response_model=list[AudienceSummary])
async def list_audiences(request: Request) -> list[AudienceSummary]:
    """Every audience of the project file: definition, destinations, members now, last
    reconcile."""
    project = request.app.state.project
    return await run_in_threadpool(summaries, request.app.state.engine, project.audiences)


@router.get("/{name}", response_model=AudienceDetail)
async def show_audience(
    request: Request, name: str, limit: int = Query(default=20, ge=0, le=1000)
) -> AudienceDetail:
    """One audience with its latest entrants (``limit``) and how many have left it."""
    audience = request.app.state.project.audiences.get(name)
    if audience is None:
        raise HTTPException(404, f"no audience {name!r}")
    return await run_in_threadpool(detail, request.app.state.engine, name, audience, limit)

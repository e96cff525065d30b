"""``/v1/syncs``: the record of every source run, for operators (scope ``admin``).

The router reads the store engine from ``request.app.state.engine``, as the other
routers do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ..store.driver_sql import transaction
from ..sync import runs
from ..sync.runs import SyncRun
from .auth import SCOPED_RESPONSES, scoped

router = APIRouter(
    prefix="/v1/syncs", tags=["syncs"], route_class=scoped("admin"), responses=SCOPED_RESPONSES
)


@router.get("", response_model=list[SyncRun])
async def list_runs(
    request: Request,
    connection: Annotated[str | None, Query(description="only this source")] = None,
    status: Annotated[
        Literal["running", "succeeded", "failed", "interrupted"] | None,
        Query(description="only runs with this status"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[SyncRun]:
    """The latest sync runs, newest first: one per stream run, with what it committed
    (records, rejected rows, checkpoints), when, and why it stopped."""

    def read() -> list[SyncRun]:
        with transaction(request.app.state.engine, readonly=True) as conn:
            return runs.recent(conn, connection=connection, status=status, limit=limit)

    return await run_in_threadpool(read)

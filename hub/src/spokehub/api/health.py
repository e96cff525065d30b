"""Liveness and readiness: open to anyone, as load balancers and orchestrators probe them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from ..store.driver_sql import transaction

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
async def readyz(request: Request) -> JSONResponse:
    """Ready to accept events: the store answers and the daemon is not shutting down."""
    if not request.app.state.accepting:
        return JSONResponse({"status": "shutting_down"}, status_code=503)

    def ping() -> None:
        with transaction(request.app.state.engine, readonly=True) as conn:
            conn.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception:
        return JSONResponse({"status": "store_unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})

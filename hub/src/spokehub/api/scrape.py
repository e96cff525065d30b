"""``/metrics``: the Prometheus figures, for a token with the ``admin`` scope.

Behind a token rather than on a port of its own: one listener to secure and proxy, and
Prometheus sends a bearer token (``authorization: {credentials: ...}`` in its scrape
config). The figures name destinations and counts, never people, but they tell an
outsider how busy the hub is and which tools it feeds.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from .auth import SCOPED_RESPONSES, scoped

router = APIRouter(tags=["metrics"], route_class=scoped("admin"), responses=SCOPED_RESPONSES)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Accepted and rejected counts, pipeline lag, inbox backlog, outbox depth per
    destination, privacy requests and retention."""
    body = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

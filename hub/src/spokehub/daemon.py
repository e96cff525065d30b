"""``spokehub serve``: the HTTP API, the pipeline worker, the sync scheduler and the
delivery lanes in one process.

On SIGTERM (or SIGINT) the daemon stops accepting (``/readyz`` turns 503 and new ingestion
requests get 503), lets uvicorn finish in-flight requests, lets the pipeline finish and
commit its current batch, stops the scheduler and the lanes, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from sqlalchemy import Engine

from .api import create_app
from .config import Project
from .logs import get_logger
from .pipeline import Pipeline
from .registry import Registry
from .sync import Scheduler

log = get_logger("spokehub.daemon")


async def serve(
    project: Project,
    registry: Registry,
    engine: Engine,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: bool = True,
) -> None:
    """Run the daemon until SIGTERM/SIGINT.

    :param workers: also run the pipeline worker, sync scheduler and delivery lanes (off
        for an API-only process).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    wake = asyncio.Event()
    app = create_app(project, registry, engine, wake=lambda: loop.call_soon_threadsafe(wake.set))
    config = uvicorn.Config(
        app,
        host=host or project.server.host,
        port=port or project.server.port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=20,
    )
    server = _Server(config)

    def shutdown() -> None:
        if not stop.is_set():
            log.info("shutting down")
        app.state.accepting = False
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown)

    tasks: list[asyncio.Task[Any]] = []
    if workers:
        pipeline = Pipeline(engine, project, registry)
        tasks.append(asyncio.create_task(pipeline.run(stop, wake), name="pipeline"))
        tasks.append(asyncio.create_task(Scheduler(engine, project, registry).run(stop)))
        lanes = _delivery_lanes()
        if lanes is not None:
            tasks.append(asyncio.create_task(lanes(engine, project, registry, stop)))

    try:
        await server.serve()
    finally:
        shutdown()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("task failed", task=task.get_name(), error=type(result).__name__)
        log.info("stopped")


class _Server(uvicorn.Server):
    # uvicorn would install its own handlers and re-raise the signal once it has shut
    # down, ending the process before the pipeline commits; ours tell it to exit instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _delivery_lanes() -> (
    Callable[[Engine, Project, Registry, asyncio.Event], Awaitable[None]] | None
):
    try:
        from .delivery import run_lanes
    except ImportError:
        log.info("delivery lanes not available in this hub; outbox rows wait for them")
        return None
    return run_lanes  # type: ignore[no-any-return]

"""``spokehub serve``: the HTTP API, the sync scheduler and the delivery lanes in one
process, and the pipeline worker in a child process of its own.

The pipeline spends a few hundred microseconds of CPU per event; in the API's process it
would hold the GIL against request parsing, so the daemon runs it as
``spokehub pipeline run --follow-stdin``: a line on its stdin wakes it when new inbox rows
commit, and the end of its stdin (the daemon exited, even by SIGKILL) stops it after its
current batch. The daemon restarts it if it dies. SQLite writers of both processes take
turns at :class:`~spokehub.store.engine.ProcessGate`, requests first.

On SIGTERM (or SIGINT) the daemon stops accepting (``/readyz`` turns 503 and new ingestion
requests get 503), lets uvicorn finish in-flight requests, stops the pipeline process
(which finishes and commits its current batch), the scheduler and the lanes, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn
from sqlalchemy import Engine

from . import activation
from .api import create_app
from .api.server import server_config
from .config import Project
from .delivery import run_lanes
from .logs import get_logger
from .pipeline import Pipeline
from .pipeline.child import READY
from .privacy.maintenance import run_maintenance
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
    pipeline_command: Sequence[str] | None = None,
    pipeline_workers: int = 1,
) -> None:
    """Run the daemon until SIGTERM/SIGINT.

    :param workers: also run the pipeline worker, sync scheduler and delivery lanes (off
        for an API-only process).
    :param pipeline_command: how to start the pipeline process (``spokehub ... pipeline
        run --follow-stdin``); without it the pipeline runs in this process.
    :param pipeline_workers: how many such processes (PostgreSQL: they share the inbox
        through its claims, each person's rows still in order).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    wake = asyncio.Event()
    children = (
        [_PipelineProcess(pipeline_command) for _ in range(pipeline_workers)]
        if workers and pipeline_command
        else []
    )

    def wake_pipeline() -> None:
        for child in children:
            child.wake()
        if not children:
            wake.set()

    app = create_app(
        project, registry, engine, wake=lambda: loop.call_soon_threadsafe(wake_pipeline)
    )
    config = server_config(
        app,
        project.server.http,
        host=host or project.server.host,
        port=port or project.server.port,
        log_config=None,
        access_log=False,
        # The client address is the peer's unless it is a trusted proxy, and the API
        # decides that from server.trusted_proxies (uvicorn would trust 127.0.0.1).
        proxy_headers=False,
        lifespan="off",
        timeout_graceful_shutdown=20,
    )
    server = _Server(config)

    stopped_by = ["the daemon's shutdown"]

    def shutdown(signame: str | None = None) -> None:
        if not stop.is_set():
            log.info("shutting down")
            if signame is not None:
                stopped_by[0] = signame
        app.state.accepting = False
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown, sig.name)

    tasks: list[asyncio.Task[Any]] = []
    for child in children:
        await child.start()
    if workers:
        for child in children:
            tasks.append(asyncio.create_task(child.run(stop), name="pipeline"))
        if not children:
            pipeline = Pipeline(engine, project, registry)
            tasks.append(asyncio.create_task(pipeline.run(stop, wake), name="pipeline"))
        tasks.append(
            asyncio.create_task(
                Scheduler(engine, project, registry, stop_reason=lambda: stopped_by[0]).run(stop)
            )
        )
        tasks.append(asyncio.create_task(run_lanes(engine, project, registry, stop)))
        tasks.append(asyncio.create_task(activation.run(engine, project, stop), name="activation"))
        pruned = app.state.metrics.retention_pruned
        tasks.append(
            asyncio.create_task(
                run_maintenance(
                    engine,
                    project,
                    registry,
                    stop,
                    counted=lambda rule, n: pruned.labels(rule).inc(n),
                ),
                name="privacy",
            )
        )

    # Everything loaded so far lives as long as the process: out of the collector's sight,
    # a full collection no longer walks the whole application at every request burst.
    gc.collect()
    gc.freeze()
    try:
        await server.serve()
    finally:
        shutdown()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("task failed", task=task.get_name(), error=type(result).__name__)
        log.info("stopped")


class _PipelineProcess:
    """The pipeline worker as a child process, kept running until ``stop``."""

    #: Seconds between restarts of a pipeline process that keeps dying.
    restart_delay = 1.0

    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.proc: asyncio.subprocess.Process | None = None

    def wake(self) -> None:
        """New inbox rows committed: one line to the worker (dropped while one is unread)."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        if proc.stdin.transport.get_write_buffer_size() == 0:
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.write(b"\n")

    async def start(self, timeout: float = 120.0) -> None:
        """Start the worker and wait until it says it is running (it publishes the
        contract first; a breaking change stops it, and with it the daemon's start).

        :raises RuntimeError: the worker exited or did not report in time.
        """
        self.proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            line = b""
        if line.strip() != READY:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            code = await self.proc.wait()
            raise RuntimeError(f"the pipeline process did not start (exit code {code})")
        log.info("pipeline process started", pid=self.proc.pid)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the started worker running until ``stop``; then stop it."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                if self.proc is None:
                    try:
                        await self.start()
                    except (RuntimeError, OSError) as exc:
                        log.error("pipeline process failed to start", error=str(exc))
                        await _wait_any(stop, self.restart_delay)
                        if stop.is_set():
                            return
                        continue
                assert self.proc is not None
                exited = asyncio.ensure_future(self.proc.wait())
                await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not exited.done():
                    await self._stop(exited)
                    return
                log.error("pipeline process exited", code=exited.result())
                self.proc = None
                await _wait_any(stop, self.restart_delay)
                if stop.is_set():
                    return
        finally:
            stopping.cancel()

    async def _stop(self, exited: asyncio.Future[int]) -> None:
        proc = self.proc
        assert proc is not None
        # The end of its input and SIGTERM both tell it to finish its batch and exit.
        if proc.stdin is not None:
            proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout=60)
        except TimeoutError:
            log.error("pipeline process did not stop; killing it", pid=proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await exited
        log.info("pipeline process stopped", code=proc.returncode)


async def _wait_any(stop: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout)


class _Server(uvicorn.Server):
    # uvicorn would install its own handlers and re-raise the signal once it has shut
    # down, ending the process before the pipeline commits; ours tell it to exit instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

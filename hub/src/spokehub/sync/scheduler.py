"""Pulling from sources on their schedule.

Every hub process sharing a store runs a scheduler; the connection's lease (see
:mod:`.lease`) makes one of them pull a due connection while the others skip it, so each
page is pulled once however many daemons run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from sqlalchemy import Engine

from ..config import Project
from ..logs import get_logger
from ..registry import Registry
from .engine import sync_connection
from .lease import LeaseHeld

log = get_logger("spokehub.sync")


class Scheduler:
    """Runs each source connection with a ``schedule`` every ``schedule`` seconds."""

    def __init__(
        self,
        engine: Engine,
        project: Project,
        registry: Registry,
        *,
        stop_reason: Callable[[], str] | None = None,
    ) -> None:
        self.engine = engine
        self.project = project
        self.registry = registry
        self.stop_reason = stop_reason

    def scheduled(self) -> dict[str, float]:
        return {
            name: conn.schedule
            for name, conn in self.project.sources().items()
            if conn.schedule is not None
            and conn.spoke is not None
            and conn.spoke in self.registry.sources
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Pull every scheduled connection on its period until ``stop`` is set."""
        schedule = self.scheduled()
        if not schedule:
            await stop.wait()
            return
        loop = asyncio.get_running_loop()
        due = dict.fromkeys(schedule, loop.time())
        while not stop.is_set():
            now = loop.time()
            for name, period in schedule.items():
                if due[name] > now or stop.is_set():
                    continue
                try:
                    stats = await sync_connection(
                        self.engine,
                        self.project,
                        self.registry,
                        name,
                        stop=stop,
                        stop_reason=self.stop_reason,
                    )
                    log.info(
                        "sync finished",
                        connection=name,
                        records=stats.records,
                        failed=len(stats.failed),
                    )
                except LeaseHeld:
                    # Another process is pulling it; its run covers this period.
                    log.debug("sync skipped: another process holds it", connection=name)
                except Exception as exc:  # one failing source must not stop the others
                    log.error("sync failed", connection=name, error=type(exc).__name__)
                due[name] = loop.time() + period
            wait = max(0.05, min(due.values()) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

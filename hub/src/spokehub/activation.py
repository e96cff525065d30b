"""Audiences and journeys: what the pipeline does after profiles change, and what the
daemon does on a schedule.

:class:`Activation` holds the project's audiences and journeys compiled once per
process, and the clock they decide by. The pipeline's hook
(:mod:`spokehub.pipeline.activation`) uses it after each batch.

:func:`run` is the daemon's task: it fires due journey timers every
``activation.timer_poll_seconds`` and reconciles time-based audiences every
``activation.reconcile_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from .audiences.index import AudienceIndex
from .audiences.reconcile import ReconcileStats, reconcile
from .clock import Clock, OffsetClock
from .config import Project
from .journeys.timers import FireStats, JourneyIndex, fire_due
from .logs import get_logger
from .store.driver_sql import chunks, cursor, marks, utcnow

log = get_logger("spokehub.activation")


class Activation:
    """The project's audiences and journeys, compiled once per process."""

    def __init__(self, project: Project, clock: Clock | None = None) -> None:
        self.project = project
        self.rules = project.identity
        self.audiences = AudienceIndex(project.audiences)
        self.journeys = JourneyIndex(project.journeys)
        self.clock: Clock = clock or OffsetClock.from_env()

    def __bool__(self) -> bool:
        return bool(self.audiences or self.journeys)

    # -- the daemon's schedule -------------------------------------------------------

    def fire(self, engine: Engine, limit: int | None = None) -> FireStats:
        """Fire every timer due now, ``limit`` (default ``activation.timer_batch``) a
        transaction."""
        total = FireStats()
        if not self.journeys:
            return total
        size = limit or self.project.activation.timer_batch
        while True:
            stats = fire_due(engine, self.journeys, self.rules, self.clock.now(), size)
            total.fired += stats.fired
            total.cancelled += stats.cancelled
            total.outbox += stats.outbox
            for k, v in stats.reasons.items():
                total.reasons[k] = total.reasons.get(k, 0) + v
            if stats.fired + stats.cancelled < size:
                return total

    def reconcile(self, engine: Engine, *, full: bool = False) -> ReconcileStats:
        return reconcile(engine, self.audiences, self.rules, self.clock.now(), full=full)


def erase(conn: Connection, contact_ids: Sequence[str]) -> None:
    """Erase what audiences and journeys hold about these profiles, in the caller's
    transaction (an erasure request): membership rows go, waiting timers are cancelled
    and every timer row loses the trigger's properties. No exit is sent: the erasure's
    own ``forget`` reaches every tool."""
    ids = sorted(set(contact_ids))
    if not ids:
        return
    cur = cursor(conn)
    at = cur.driver.stamp(utcnow())
    for part in chunks(ids):
        cur.run(f"DELETE FROM audience_members WHERE contact_id IN ({marks(len(part))})", part)
        cur.run(
            "UPDATE journey_timers SET status = 'cancelled', reason = 'profile erased',"
            f" finished_at = ? WHERE status = 'scheduled' AND contact_id IN ({marks(len(part))})",
            (at, *part),
        )
        cur.run(
            f"UPDATE journey_timers SET trigger = '{{}}' WHERE contact_id IN ({marks(len(part))})",
            part,
        )


async def run(engine: Engine, project: Project, stop: asyncio.Event) -> None:
    """Fire due timers and reconcile audiences until ``stop``; a failure is logged and
    tried again at the next turn, never the end of the daemon."""
    activation = Activation(project)
    if not activation:
        return
    settings = project.activation
    loop = asyncio.get_running_loop()
    next_reconcile = loop.time()
    log.info("activation started", audiences=len(project.audiences), journeys=len(project.journeys))
    while not stop.is_set():
        if activation.audiences and loop.time() >= next_reconcile:
            try:
                stats = await asyncio.to_thread(activation.reconcile, engine)
                log.info(
                    "audiences reconciled",
                    entered=sum(stats.entered.values()),
                    exited=sum(stats.exited.values()),
                    full=stats.full,
                )
            except Exception as exc:
                log.error("audience reconcile failed", error=type(exc).__name__)
            next_reconcile = loop.time() + settings.reconcile_seconds
        try:
            fired = await asyncio.to_thread(activation.fire, engine)
            if fired.fired or fired.cancelled:
                log.info("journey timers", fired=fired.fired, cancelled=fired.cancelled)
        except Exception as exc:
            log.error("journey timers failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.timer_poll_seconds)

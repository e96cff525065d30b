"""What operators see of journeys: each one's definition and its timers by status."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, select

from spokehub.store.driver_sql import transaction

from ..audiences.definitions import Journey
from .tables import journey_timers


class JourneySummary(BaseModel):
    name: str
    description: str = ""
    trigger: str
    after: str
    sends: str
    to: str
    scheduled: int = 0
    fired: int = 0
    cancelled: int = 0


def _after(j: Journey) -> str:
    seconds = int(j.after.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def timer_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Timers per ``(journey, status)``."""
    t = journey_timers.c
    return {
        (j, s): int(n)
        for j, s, n in conn.execute(
            select(t.journey, t.status, func.count()).group_by(t.journey, t.status)
        )
    }


def journey_summaries(engine: Engine, journeys: dict[str, Journey]) -> list[JourneySummary]:
    with transaction(engine, readonly=True) as conn:
        counts = timer_counts(conn)
    return [
        JourneySummary(
            name=name,
            description=j.description,
            trigger=j.trigger.event,
            after=_after(j),
            sends=j.send.event,
            to=j.send.to,
            scheduled=counts.get((name, "scheduled"), 0),
            fired=counts.get((name, "fired"), 0),
            cancelled=counts.get((name, "cancelled"), 0),
        )
        for name, j in sorted(journeys.items())
    ]

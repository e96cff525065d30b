"""What ``spokehub deliveries status`` and ``GET /v1/deliveries/status`` show per lane:
queue depth, delivery rate, age of the oldest waiting item, dead letters, items consent
held back (by purpose), last error,
and whether the lane is running, paused (and why) or stopped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Engine, func, select

from spokehub.store.driver_sql import transaction, utc, utcnow
from spokehub.store.tables import outbox

from .state import read_lanes

#: A lane whose heartbeat is older than this is reported as stopped.
STALE_AFTER = timedelta(seconds=30)
RATE_WINDOW = timedelta(seconds=60)


class LaneStatus(BaseModel):
    """One destination connection's delivery lane."""

    connection: str
    state: str  # running | paused | stopped
    reason: str | None = None
    queued: int = 0  # pending, retry and in flight
    inflight: int = 0
    delivered: int = 0
    dead: int = 0
    suppressed: int = 0
    #: The suppressed items by the consent purpose the profile denied.
    suppressed_by_purpose: dict[str, int] = {}
    rate_per_second: float = 0.0  # items finished as delivered over the last minute
    oldest_pending_seconds: float | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


def lane_status(
    engine: Engine, connections: Iterable[str] = (), now: datetime | None = None
) -> list[LaneStatus]:
    """Status of every lane in ``connections`` and of every destination found in the
    outbox or the lane table, sorted by name."""
    now = now or utcnow()
    with transaction(engine, readonly=True) as conn:
        counts = conn.execute(
            select(outbox.c.destination, outbox.c.status, func.count()).group_by(
                outbox.c.destination, outbox.c.status
            )
        ).all()
        oldest = dict(
            conn.execute(
                select(outbox.c.destination, func.min(outbox.c.created_at))
                .where(outbox.c.status.in_(("pending", "retry", "inflight")))
                .group_by(outbox.c.destination)
            ).all()
        )
        recent = dict(
            conn.execute(
                select(outbox.c.destination, func.count())
                .where(outbox.c.status == "delivered", outbox.c.finished_at >= now - RATE_WINDOW)
                .group_by(outbox.c.destination)
            ).all()
        )
        held = conn.execute(
            select(outbox.c.destination, outbox.c.purpose, func.count())
            .where(outbox.c.status == "suppressed")
            .group_by(outbox.c.destination, outbox.c.purpose)
        ).all()
        lanes = read_lanes(conn)
    by_purpose: dict[str, dict[str, int]] = {}
    for destination, purpose, count in held:
        by_purpose.setdefault(destination, {})[purpose or "(none)"] = count
    names = set(connections) | {d for d, _, _ in counts} | set(lanes)
    by_status: dict[str, dict[str, int]] = {}
    for destination, status, count in counts:
        by_status.setdefault(destination, {})[status] = count
    out: list[LaneStatus] = []
    for name in sorted(names):
        seen = by_status.get(name, {})
        lane = lanes.get(name)
        if lane is not None and lane.paused:
            state = "paused"
        elif lane is not None and lane.seen_at and now - lane.seen_at <= STALE_AFTER:
            state = "running"
        else:
            state = "stopped"
        first = oldest.get(name)
        out.append(
            LaneStatus(
                connection=name,
                state=state,
                reason=lane.reason if lane else None,
                queued=seen.get("pending", 0) + seen.get("retry", 0) + seen.get("inflight", 0),
                inflight=seen.get("inflight", 0),
                delivered=seen.get("delivered", 0),
                dead=seen.get("dead", 0),
                suppressed=seen.get("suppressed", 0),
                suppressed_by_purpose=by_purpose.get(name, {}),
                rate_per_second=round(recent.get(name, 0) / RATE_WINDOW.total_seconds(), 2),
                oldest_pending_seconds=(
                    None if first is None else round((now - utc(first)).total_seconds(), 1)
                ),
                last_error=lane.last_error if lane else None,
                last_error_at=lane.last_error_at if lane else None,
            )
        )
    return out

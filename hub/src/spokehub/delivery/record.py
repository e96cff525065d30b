"""Writing what became of each claimed row, and of each call, in one transaction.

Every claimed row ends in exactly one of: ``delivered`` (also for a change superseded by
a later one in the same batch, noted in ``last_error``), ``retry`` with a new ``due_at``,
``dead`` with the reason and a redacted summary of the last response, ``suppressed`` with
the consent reason, or back to ``pending``/``retry`` when a lane hands it back unsent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, func, insert, update

from spokehub.store.tables import delivery_attempts, outbox

from .state import clean, note_error

SUPERSEDED = "superseded by outbox row"


@dataclass(frozen=True)
class Result:
    """The new state of one outbox row."""

    id: int
    status: str  # delivered | retry | dead | suppressed
    attempts: int
    due_at: datetime | None = None  # retry only
    finished_at: datetime | None = None
    error: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class CallLog:
    """One call to the destination, for the attempts log."""

    started_at: datetime
    duration_ms: int
    items: int
    delivered: int
    retried: int
    rejected: int
    result: str
    error: str | None = None


_UPDATE = (
    update(outbox)
    .where(outbox.c.id == bindparam("_id"), outbox.c.status == "inflight")
    .values(
        status=bindparam("_status"),
        attempts=bindparam("_attempts"),
        # Only a retry moves due_at; other outcomes keep the row's own.
        due_at=func.coalesce(bindparam("_due_at", type_=outbox.c.due_at.type), outbox.c.due_at),
        finished_at=bindparam("_finished_at"),
        last_error=bindparam("_error"),
        external_id=bindparam("_external_id"),
        claimed_until=None,
    )
)


def record(
    engine: Engine,
    destination: str,
    results: Sequence[Result],
    calls: Sequence[CallLog] = (),
    lane_error: str | None = None,
) -> None:
    """Store ``results`` (only for rows still in flight), log ``calls`` and, if given,
    the lane's last error, atomically."""
    params = [
        {
            "_id": r.id,
            "_status": r.status,
            "_attempts": r.attempts,
            "_due_at": r.due_at,
            "_finished_at": r.finished_at,
            "_error": clean(r.error) if r.error else None,
            "_external_id": r.external_id[:512] if r.external_id else None,
        }
        for r in results
    ]
    with engine.begin() as conn:
        if params:
            conn.execute(_UPDATE, params)
        if calls:
            conn.execute(
                insert(delivery_attempts),
                [
                    {
                        "destination": destination,
                        "started_at": c.started_at,
                        "duration_ms": c.duration_ms,
                        "items": c.items,
                        "delivered": c.delivered,
                        "retried": c.retried,
                        "rejected": c.rejected,
                        "result": c.result,
                        "error": clean(c.error) if c.error else None,
                    }
                    for c in calls
                ],
            )
        if lane_error:
            note_error(conn, destination, lane_error)

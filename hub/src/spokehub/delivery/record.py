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
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, update

from spokehub.store.tables import delivery_attempts, outbox

from .claim import Claimed, claim_in, release_in
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


# One statement per group of rows that end the same way (in a healthy batch: all of them).
_UPDATE_GROUP = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("_ids", expanding=True)), outbox.c.status == "inflight")
    .values(
        status=bindparam("_status"),
        attempts=bindparam("_attempts"),
        # Only a retry moves due_at; other outcomes keep the row's own.
        due_at=func.coalesce(bindparam("_due_at", type_=outbox.c.due_at.type), outbox.c.due_at),
        finished_at=bindparam("_finished_at", type_=outbox.c.finished_at.type),
        last_error=bindparam("_error"),
        claimed_until=None,
    )
)
# The vendor's id of each row is its own; set before the group update, while in flight.
_EXTERNAL_IDS = (
    update(outbox)
    .where(outbox.c.id == bindparam("_id"), outbox.c.status == "inflight")
    .values(external_id=bindparam("_external_id"))
)
_ATTEMPTS = insert(delivery_attempts)


def record(
    engine: Engine,
    destination: str,
    results: Sequence[Result],
    calls: Sequence[CallLog] = (),
    lane_error: str | None = None,
) -> None:
    """Store ``results`` (only for rows still in flight), log ``calls`` and, if given,
    the lane's last error, atomically."""
    with engine.begin() as conn:
        record_in(conn, destination, results, calls, lane_error)


def record_in(
    conn: Connection,
    destination: str,
    results: Sequence[Result],
    calls: Sequence[CallLog] = (),
    lane_error: str | None = None,
) -> None:
    """:func:`record` inside the caller's transaction."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    external: list[dict[str, Any]] = []
    for r in results:
        key = (r.status, r.attempts, r.due_at, r.finished_at, r.error)
        groups.setdefault(key, []).append(r.id)
        if r.external_id:
            external.append({"_id": r.id, "_external_id": r.external_id[:512]})
    if external:
        conn.execute(_EXTERNAL_IDS, external)
    for (status, attempts, due_at, finished_at, error), ids in groups.items():
        conn.execute(
            _UPDATE_GROUP,
            {
                "_ids": ids,
                "_status": status,
                "_attempts": attempts,
                "_due_at": due_at,
                "_finished_at": finished_at,
                "_error": clean(error) if error else None,
            },
        )
    if calls:
        conn.execute(
            _ATTEMPTS,
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


def finish(
    engine: Engine,
    destination: str,
    results: Sequence[Result],
    calls: Sequence[CallLog],
    lane_error: str | None,
    to_release: Sequence[int],
    *,
    claim_next: int = 0,
    lease_seconds: float = 0.0,
) -> list[Claimed]:
    """Record a finished batch, hand back its unsent rows and, with ``claim_next``,
    claim the lane's next batch of up to that many rows, all in one transaction (one
    write lock, one commit)."""
    with engine.begin() as conn:
        record_in(conn, destination, results, calls, lane_error)
        release_in(conn, to_release)
        if claim_next:
            return claim_in(conn, destination, claim_next, lease_seconds)
    return []

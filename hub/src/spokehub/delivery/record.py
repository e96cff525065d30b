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

from sqlalchemy import Connection, Engine

from spokehub.store.driver_sql import cursor, insert_sql, marks, transaction

from .claim import Claimed, claim_in, release_in
from .holdings import Delivery, note
from .state import clean, note_error
from .writeback import WriteBack, write_backs_in

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
    #: suppressed only: the consent purpose the profile denied.
    purpose: str | None = None


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


#: Parameters of one ``delivery_attempts`` row.
_CALL_COLUMNS = (
    "destination",
    "started_at",
    "duration_ms",
    "items",
    "delivered",
    "retried",
    "rejected",
    "result",
    "error",
)


def record(
    engine: Engine,
    destination: str,
    results: Sequence[Result],
    calls: Sequence[CallLog] = (),
    lane_error: str | None = None,
    delivered: Sequence[Delivery] = (),
) -> None:
    """Store ``results`` (only for rows still in flight), log ``calls``, note which
    contacts the ``delivered`` changes leave the destination holding
    (:mod:`.holdings`) and, if given, the lane's last error, atomically."""
    with transaction(engine) as conn:
        record_in(conn, destination, results, calls, lane_error, delivered)


def record_in(
    conn: Connection,
    destination: str,
    results: Sequence[Result],
    calls: Sequence[CallLog] = (),
    lane_error: str | None = None,
    delivered: Sequence[Delivery] = (),
) -> None:
    """:func:`record` inside the caller's transaction.

    One ``UPDATE`` per group of rows that end the same way (in a healthy batch: all of
    them), setting each row's own vendor id in the same statement; one ``INSERT`` for
    the calls."""
    cur = cursor(conn)
    stamp = cur.driver.stamp
    # A row takes three parameters at most (its id, and its vendor id with the id again)
    # beside the six the group shares.
    per_statement = cur.driver.rows_per_statement(3, shared=6)
    groups: dict[tuple[Any, ...], list[Result]] = {}
    for r in results:
        key = (r.status, r.attempts, r.due_at, r.finished_at, r.error, r.purpose)
        groups.setdefault(key, []).append(r)
    for (status, attempts, due_at, finished_at, error, purpose), members in groups.items():
        shared = (
            status,
            attempts,
            # Only a retry moves due_at; other outcomes keep the row's own.
            None if due_at is None else stamp(due_at),
            None if finished_at is None else stamp(finished_at),
            clean(error) if error else None,
            # A suppressed row names the purpose it was held back for.
            purpose,
        )
        for start in range(0, len(members), per_statement):
            part = members[start : start + per_statement]
            params: list[Any] = list(shared)
            vendor_ids = ""
            external = [(r.id, r.external_id[:512]) for r in part if r.external_id]
            if external:
                vendor_ids = (
                    ", external_id = CASE id"
                    + " WHEN ? THEN ?" * len(external)
                    + " ELSE external_id END"
                )
                for pair in external:
                    params += pair
            params += [r.id for r in part]
            cur.run(
                "UPDATE outbox SET status = ?, attempts = ?, due_at = COALESCE(?, due_at),"
                f" finished_at = ?, last_error = ?, purpose = COALESCE(?, purpose),"
                f" claimed_until = NULL{vendor_ids}"
                f" WHERE id IN ({marks(len(part))}) AND status = 'inflight'",
                tuple(params),
            )
    per_insert = cur.driver.rows_per_statement(len(_CALL_COLUMNS))
    for start in range(0, len(calls), per_insert):
        part = calls[start : start + per_insert]
        values: list[Any] = []
        for c in part:
            values += (
                destination,
                stamp(c.started_at),
                c.duration_ms,
                c.items,
                c.delivered,
                c.retried,
                c.rejected,
                c.result,
                clean(c.error) if c.error else None,
            )
        cur.run(insert_sql("delivery_attempts", _CALL_COLUMNS, rows=len(part)), tuple(values))
    if delivered:
        note(conn, destination, delivered)
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
    write_backs: Sequence[WriteBack] = (),
    delivered: Sequence[Delivery] = (),
) -> list[Claimed]:
    """Record a finished batch, store the vendor ids it answered in the inbox
    (``write_backs``), hand back its unsent rows and, with ``claim_next``, claim the
    lane's next batch of up to that many rows, all in one transaction (one write lock,
    one commit)."""
    with transaction(engine) as conn:
        record_in(conn, destination, results, calls, lane_error, delivered)
        write_backs_in(conn, destination, write_backs)
        release_in(conn, to_release)
        if claim_next:
            return claim_in(conn, destination, claim_next, lease_seconds)
    return []

"""Claiming due outbox rows for one destination, safely across lanes and processes.

A row is *due* when it is ``pending`` or ``retry`` with ``due_at`` reached, or
``inflight`` under a lease that expired (its hub stopped mid-batch: nothing is lost, the
row is simply claimed again). Claiming sets ``inflight`` and a lease in one statement:
an atomic ``UPDATE … WHERE id IN (SELECT … LIMIT n)`` under SQLite's write lock, with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that concurrent claimers never get the same
row and never wait on each other.

Per-profile order: a row is not handed out while an earlier row of the same profile for
the same destination waits for a retry or is in flight elsewhere, so one person's changes
reach a destination in the order they were made. A ``pending`` row scheduled for later (a
delayed send) does not block the rows behind it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from spokehub.store.driver_sql import chunks, cursor, marks, transaction, utcnow


@dataclass(frozen=True)
class Claimed:
    """One claimed outbox row, as the lane needs it."""

    id: int
    route: str | None
    contact_id: str | None
    kind: str
    purpose: str | None
    item: str
    attempts: int
    created_at: datetime


@functools.cache
def _claim_sql(postgres: bool) -> str:
    """``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …`` as driver SQL.

    ``IN ('pending', …)`` is spelled out so that the planner can prove it matches the
    partial index ``ix_outbox_unfinished`` and walk only the queue, in id order, stopping
    at the limit. A due row is skipped while an earlier row of its profile holds it back;
    those are looked for through ``ix_outbox_contact_id`` from the destination's oldest
    row in flight or waiting for a retry onwards: rows before it are all finished, so
    however much history the outbox keeps, the look-up stays within the live part.

    Parameters: lease end, destination, now, now, destination, now, now, limit."""
    lock = " FOR UPDATE OF o SKIP LOCKED" if postgres else ""
    return (
        "UPDATE outbox SET status = 'inflight', claimed_until = ? WHERE id IN ("
        "SELECT o.id FROM outbox AS o"
        " WHERE o.destination = ? AND o.status IN ('pending', 'retry', 'inflight')"
        " AND ((o.status IN ('pending', 'retry') AND o.due_at <= ?)"
        " OR (o.status = 'inflight' AND o.claimed_until < ?))"
        # NULL never equals: anonymous rows never wait.
        " AND NOT EXISTS (SELECT 1 FROM outbox AS b"
        " WHERE b.contact_id = o.contact_id AND b.id < o.id AND b.id >= ("
        "SELECT MIN(id) FROM outbox"
        " WHERE destination = ? AND status IN ('inflight', 'retry'))"
        " AND b.destination = o.destination"
        " AND ((b.status = 'retry' AND b.due_at > ?)"
        " OR (b.status = 'inflight' AND b.claimed_until >= ?)))"
        f" ORDER BY o.id LIMIT ?{lock})"
        " RETURNING id, route, contact_id, kind, purpose, item, attempts, created_at"
    )


def claim(
    engine: Engine,
    destination: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows of ``destination``, oldest first, for
    ``lease_seconds``. Returns them in outbox order."""
    with transaction(engine) as conn:
        return claim_in(conn, destination, limit, lease_seconds, now)


def claim_in(
    conn: Connection,
    destination: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Claimed]:
    """:func:`claim` inside the caller's transaction."""
    if limit <= 0:
        return []
    now = now or utcnow()
    cur = cursor(conn)
    sql = cur.driver
    stamp = sql.stamp(now)
    until = sql.stamp(now + timedelta(seconds=lease_seconds))
    rows = cur.rows(
        _claim_sql(sql.postgres),
        (until, destination, stamp, stamp, destination, stamp, stamp, limit),
    )
    parse = sql.parse
    claimed = [
        Claimed(id_, route, contact, kind, purpose, item, attempts, parse(created))
        for id_, route, contact, kind, purpose, item, attempts, created in rows
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


def renew(engine: Engine, ids: Sequence[int], lease_seconds: float) -> None:
    """Extend the lease of rows still in flight (a long call must not lose its claim)."""
    if not ids:
        return
    until = utcnow() + timedelta(seconds=lease_seconds)
    with transaction(engine) as conn:
        cur = cursor(conn)
        stamp = cur.driver.stamp(until)
        for part in chunks(ids, cur.driver.rows_per_statement(1, shared=1)):
            cur.run(
                "UPDATE outbox SET claimed_until = ?"
                f" WHERE id IN ({marks(len(part))}) AND status = 'inflight'",
                (stamp, *part),
            )


def release(engine: Engine, ids: Sequence[int]) -> None:
    """Hand rows back unchanged (lane paused or stopping): due again at once, no attempt
    counted."""
    if not ids:
        return
    with transaction(engine) as conn:
        release_in(conn, ids)


def release_in(conn: Connection, ids: Sequence[int]) -> None:
    """:func:`release` inside the caller's transaction."""
    if not ids:
        return
    cur = cursor(conn)
    for part in chunks(ids, cur.driver.rows_per_statement(1)):
        cur.run(
            "UPDATE outbox SET claimed_until = NULL,"
            " status = CASE WHEN attempts > 0 THEN 'retry' ELSE 'pending' END"
            f" WHERE id IN ({marks(len(part))}) AND status = 'inflight'",
            tuple(part),
        )

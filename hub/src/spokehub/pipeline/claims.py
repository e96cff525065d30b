"""Claiming inbox rows for one pipeline batch.

SQLite has one writer at a time (``BEGIN IMMEDIATE``), so a claim is a plain ordered read
inside the batch's transaction. PostgreSQL lets several daemons share the inbox: rows are
locked with ``FOR UPDATE SKIP LOCKED`` so no row is taken twice, and a row whose person
(``partition_key``) has an earlier row held by another worker is left for later, so one
person's rows are always processed in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from ..store.driver_sql import Cursor, cursor, marks


@dataclass(frozen=True)
class InboxRow:
    id: int
    connection: str
    kind: str
    message_id: str | None
    partition_key: str | None
    body: str
    #: When the hub received it (aware, UTC).
    received_at: datetime


_SELECT = (
    "SELECT id, connection, kind, message_id, partition_key, body, received_at FROM inbox"
    " WHERE status = 'pending'"
)


def claim(conn: Connection, limit: int, *, ids: list[int] | None = None) -> list[InboxRow]:
    """Lock and return up to ``limit`` pending rows in inbox order, for this transaction.

    :param ids: claim only these rows (used to retry a failed batch one row at a time).
    """
    cur = cursor(conn)
    postgres = cur.driver.postgres
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    if ids is None:
        found = cur.rows(f"{_SELECT} ORDER BY id LIMIT ?{lock}", (limit,))
    else:
        found = cur.rows(
            f"{_SELECT} AND id IN ({marks(len(ids))}) ORDER BY id LIMIT ?{lock}", (*ids, limit)
        )
    parse = cur.driver.parse
    rows = [InboxRow(i, c, k, m, p, b, parse(at)) for i, c, k, m, p, b, at in found]
    if not postgres or not rows:
        return rows
    return _in_person_order(cur, rows)


def _in_person_order(cur: Cursor, rows: list[InboxRow]) -> list[InboxRow]:
    # An earlier pending row of the same person that we did not get is locked by another
    # worker; everything of that person in our batch waits until that worker commits.
    keys = sorted({r.partition_key for r in rows if r.partition_key is not None})
    if not keys:
        return rows
    mine = [r.id for r in rows]
    # PostgreSQL only: array parameters, one statement text whatever the batch.
    earliest_elsewhere = dict(
        cur.rows(
            "SELECT partition_key, min(id) FROM inbox WHERE status = 'pending'"
            " AND partition_key = ANY(?) AND id <> ALL(?) AND id < ? GROUP BY partition_key",
            (keys, mine, max(mine)),
        )
    )
    if not earliest_elsewhere:
        return rows
    return [
        r
        for r in rows
        if r.partition_key is None
        or r.partition_key not in earliest_elsewhere
        or r.id < earliest_elsewhere[r.partition_key]
    ]

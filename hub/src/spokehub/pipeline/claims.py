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

from sqlalchemy import Connection, func, select

from ..store.engine import is_postgres
from ..store.tables import inbox


@dataclass(frozen=True)
class InboxRow:
    id: int
    connection: str
    kind: str
    message_id: str | None
    partition_key: str | None
    body: str
    received_at: datetime


_COLUMNS = (
    inbox.c.id,
    inbox.c.connection,
    inbox.c.kind,
    inbox.c.message_id,
    inbox.c.partition_key,
    inbox.c.body,
    inbox.c.received_at,
)


def claim(conn: Connection, limit: int, *, ids: list[int] | None = None) -> list[InboxRow]:
    """Lock and return up to ``limit`` pending rows in inbox order, for this transaction.

    :param ids: claim only these rows (used to retry a failed batch one row at a time).
    """
    query = select(*_COLUMNS).where(inbox.c.status == "pending")
    if ids is not None:
        query = query.where(inbox.c.id.in_(ids))
    query = query.order_by(inbox.c.id).limit(limit)
    postgres = is_postgres(conn.engine)
    if postgres:
        query = query.with_for_update(skip_locked=True)
    rows = [InboxRow(*r) for r in conn.execute(query)]
    if not postgres or not rows:
        return rows
    return _in_person_order(conn, rows)


def _in_person_order(conn: Connection, rows: list[InboxRow]) -> list[InboxRow]:
    # An earlier pending row of the same person that we did not get is locked by another
    # worker; everything of that person in our batch waits until that worker commits.
    keys = {r.partition_key for r in rows if r.partition_key is not None}
    if not keys:
        return rows
    mine = [r.id for r in rows]
    earliest_elsewhere = dict(
        conn.execute(
            select(inbox.c.partition_key, func.min(inbox.c.id))
            .where(
                inbox.c.status == "pending",
                inbox.c.partition_key.in_(keys),
                inbox.c.id.not_in(mine),
                inbox.c.id < max(mine),
            )
            .group_by(inbox.c.partition_key)
        ).all()
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

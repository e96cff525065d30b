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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    case,
    exists,
    or_,
    select,
    text,
    update,
)

from spokehub.store.tables import outbox

from .clock import as_utc, utcnow

# Spelled out literally so that the planner can prove it matches the partial index
# ``ix_outbox_unfinished`` and walk only the queue, in id order, stopping at the limit.
_UNFINISHED = text("o.status IN ('pending', 'retry', 'inflight')")


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


def _claim_statement(postgres: bool) -> Any:
    """``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …``, built once per dialect with
    bound parameters so that a claim neither rebuilds nor recompiles it."""
    o = outbox.alias("o")
    b = outbox.alias("b")
    now = bindparam("_now", type_=outbox.c.due_at.type)
    due = or_(
        and_(o.c.status.in_(("pending", "retry")), o.c.due_at <= now),
        and_(o.c.status == "inflight", o.c.claimed_until < now),
    )
    blocked = exists().where(
        b.c.destination == o.c.destination,
        b.c.contact_id == o.c.contact_id,  # NULL never equals: anonymous rows never wait
        b.c.id < o.c.id,
        or_(
            and_(b.c.status == "retry", b.c.due_at > now),
            and_(b.c.status == "inflight", b.c.claimed_until >= now),
        ),
    )
    ids = (
        select(o.c.id)
        .where(o.c.destination == bindparam("_destination"), _UNFINISHED, due, ~blocked)
        .order_by(o.c.id)
        .limit(bindparam("_limit", type_=Integer()))
    )
    if postgres:
        ids = ids.with_for_update(skip_locked=True, of=o)
    return (
        update(outbox)
        .where(outbox.c.id.in_(ids))
        .values(status="inflight", claimed_until=bindparam("_until", type_=outbox.c.due_at.type))
        .returning(
            outbox.c.id,
            outbox.c.route,
            outbox.c.contact_id,
            outbox.c.kind,
            outbox.c.purpose,
            outbox.c.item,
            outbox.c.attempts,
            outbox.c.created_at,
        )
    )


_CLAIM = {False: _claim_statement(False), True: _claim_statement(True)}


def claim(
    engine: Engine,
    destination: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows of ``destination``, oldest first, for
    ``lease_seconds``. Returns them in outbox order."""
    with engine.begin() as conn:
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
    stmt = _CLAIM[conn.dialect.name == "postgresql"]
    rows = conn.execute(
        stmt,
        {
            "_now": now,
            "_destination": destination,
            "_limit": limit,
            "_until": now + timedelta(seconds=lease_seconds),
        },
    ).all()
    claimed = [
        Claimed(id_, route, contact, kind, purpose, item, attempts, as_utc(created))
        for id_, route, contact, kind, purpose, item, attempts, created in rows
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


def renew(engine: Engine, ids: Sequence[int], lease_seconds: float) -> None:
    """Extend the lease of rows still in flight (a long call must not lose its claim)."""
    if not ids:
        return
    until = utcnow() + timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)), outbox.c.status == "inflight")
            .values(claimed_until=until)
        )


def release(engine: Engine, ids: Sequence[int]) -> None:
    """Hand rows back unchanged (lane paused or stopping): due again at once, no attempt
    counted."""
    if not ids:
        return
    with engine.begin() as conn:
        release_in(conn, ids)


_RELEASE = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("_ids", expanding=True)), outbox.c.status == "inflight")
    .values(status=case((outbox.c.attempts > 0, "retry"), else_="pending"), claimed_until=None)
)


def release_in(conn: Connection, ids: Sequence[int]) -> None:
    """:func:`release` inside the caller's transaction."""
    if ids:
        conn.execute(_RELEASE, {"_ids": list(ids)})

"""Receipts from the outbox: what became of each erasure the lanes sent.

A forget change is delivered, dead-lettered (after the lane's retries) or, rarely, gone
(an operator removed it). Each outcome becomes the destination's receipt, the outbox row
is then deleted (it names the person), and a request whose receipts are all in is done
(``failed`` if a destination could not erase). On SQLite the write-ahead log is then
checkpointed and truncated, so the erased pages do not survive in it.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, delete, func, select, update

from ..logs import get_logger
from ..store.driver_sql import transaction, utcnow
from ..store.tables import outbox
from .tables import privacy_receipts, privacy_requests

log = get_logger("spokehub.privacy")


#: Stores whose log a finished request left untruncated (readers were in the way).
_OWED: set[str] = set()


def settle(engine: Engine) -> int:
    """Turn finished forget rows into receipts and finish requests; returns how many
    requests finished."""
    key = str(engine.url)
    if key in _OWED and truncate_wal(engine):
        _OWED.discard(key)
    with transaction(engine, readonly=True) as conn:
        waiting = conn.execute(
            select(privacy_requests.c.id).where(privacy_requests.c.status == "waiting").limit(1)
        ).first()
    if waiting is None:
        return 0
    finished = 0
    with transaction(engine) as conn:
        r, o = privacy_receipts.c, outbox.c
        rows = conn.execute(
            select(r.request_id, r.destination, r.outbox_id, o.status, o.external_id, o.last_error)
            .select_from(privacy_receipts.outerjoin(outbox, o.id == r.outbox_id))
            .where(r.status == "pending")
        ).all()
        now = utcnow()
        for row in rows:
            if row.status == "delivered":
                status, reference, detail = "deleted", row.external_id, None
            elif row.status == "dead":
                status, reference, detail = "failed", None, row.last_error
            elif row.status is None:
                status, reference, detail = "failed", None, "the erasure left the outbox unsent"
            else:
                continue  # still on its way
            conn.execute(
                update(privacy_receipts)
                .where(r.request_id == row.request_id, r.destination == row.destination)
                .values(
                    status=status,
                    reference=reference,
                    detail=detail,
                    outbox_id=None,
                    updated_at=now,
                )
            )
            if row.outbox_id is not None:
                conn.execute(delete(outbox).where(o.id == row.outbox_id))
        open_receipts = (
            select(func.count())
            .select_from(privacy_receipts)
            .where(r.request_id == privacy_requests.c.id, r.status == "pending")
            .scalar_subquery()
        )
        failed_receipts = (
            select(func.count())
            .select_from(privacy_receipts)
            .where(r.request_id == privacy_requests.c.id, r.status == "failed")
            .scalar_subquery()
        )
        for request_id, failures in conn.execute(
            select(privacy_requests.c.id, failed_receipts).where(
                privacy_requests.c.status == "waiting", open_receipts == 0
            )
        ).all():
            conn.execute(
                update(privacy_requests)
                .where(privacy_requests.c.id == request_id)
                .values(status="failed" if failures else "done", finished_at=now)
            )
            finished += 1
            log.info("privacy request finished", request=request_id, failed_receipts=failures)
    if finished and not truncate_wal(engine):
        _OWED.add(key)
    return finished


def truncate_wal(engine: Engine) -> bool:
    """Checkpoint a SQLite store's write-ahead log and truncate it to nothing, so pages
    an erasure overwrote do not live on in it; ``False`` when readers kept it from
    completing (the next finished request tries again)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return True
    # A connection of its own, outside the pool's transactions (a checkpoint cannot run
    # inside one).
    conn = sqlite3.connect(engine.url.database, timeout=30, isolation_level=None)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return not (busy and busy[0])

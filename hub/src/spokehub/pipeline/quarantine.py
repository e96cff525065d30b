"""Quarantined records: listing them and sending them through the pipeline again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from ..store.driver_sql import transaction, utcnow
from ..store.tables import inbox, quarantine


@dataclass(frozen=True)
class QuarantinedRecord:
    """One quarantined record, without its body (which may hold personal data)."""

    id: int
    inbox_id: int | None
    connection: str
    kind: str
    stage: str
    field: str
    rule: str
    created_at: datetime
    replayed_at: datetime | None


def list_quarantine(
    engine: Engine,
    *,
    connection: str | None = None,
    include_replayed: bool = False,
    limit: int = 100,
) -> list[QuarantinedRecord]:
    """Quarantined records, oldest first; replayed ones only when asked."""
    query = select(
        quarantine.c.id,
        quarantine.c.inbox_id,
        quarantine.c.connection,
        quarantine.c.kind,
        quarantine.c.stage,
        quarantine.c.field,
        quarantine.c.rule,
        quarantine.c.created_at,
        quarantine.c.replayed_at,
    ).order_by(quarantine.c.id)
    if connection is not None:
        query = query.where(quarantine.c.connection == connection)
    if not include_replayed:
        query = query.where(quarantine.c.replayed_at.is_(None))
    with transaction(engine, readonly=True) as conn:
        return [QuarantinedRecord(*row) for row in conn.execute(query.limit(limit))]


def replay(
    engine: Engine, ids: Sequence[int] | None = None, *, connection: str | None = None
) -> int:
    """Put quarantined records back into the inbox (e.g. after fixing a transform or
    the contract); each is marked replayed in the same transaction. Returns the count.

    :param ids: these quarantine rows; all not yet replayed when ``None``.

    Rows a pulled source could not map (kind ``source_row``) are kept as evidence but not
    replayed: they are fixed at the source and read again.
    """
    now = utcnow()
    query = select(
        quarantine.c.id, quarantine.c.connection, quarantine.c.kind, quarantine.c.body
    ).where(quarantine.c.replayed_at.is_(None), quarantine.c.kind != "source_row")
    if ids is not None:
        query = query.where(quarantine.c.id.in_(list(ids)))
    if connection is not None:
        query = query.where(quarantine.c.connection == connection)
    with transaction(engine) as conn:
        rows = conn.execute(query.order_by(quarantine.c.id)).all()
        if not rows:
            return 0
        conn.execute(
            inbox.insert(),
            [
                {
                    "connection": r.connection,
                    "kind": r.kind,
                    "body": r.body,
                    "received_at": now,
                    "status": "pending",
                }
                for r in rows
            ],
        )
        conn.execute(
            update(quarantine)
            .where(quarantine.c.id.in_([r.id for r in rows]))
            .values(replayed_at=now)
        )
    return len(rows)

"""Run records: one row per run of one stream, kept in the store.

A run is ``running`` until it ends ``succeeded``, ``failed`` (the source raised; the error
is kept, redacted) or ``interrupted`` (stopped by a signal after committing its last
checkpoint, or its process died and a later run found it so). Its counts are written in
the same transaction as the records and checkpoint they count, so after a crash they
say exactly what was committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, func, select, update

from ..store.driver_sql import utc
from ..store.tables import sync_runs

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"

#: Every status a run can have, for filters and metrics.
STATUSES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)

#: What a run whose process died says, once the next run has taken its lease over.
ABANDONED = (
    "its process stopped without finishing (killed, or lost its lease); the next run "
    "resumed from its last committed checkpoint"
)


class SyncRun(BaseModel):
    """One run of one stream of a source connection, as ``GET /v1/syncs`` shows it."""

    id: int
    connection: str
    stream: str
    status: Literal["running", "succeeded", "failed", "interrupted"]
    full_refresh: bool
    started_at: datetime
    finished_at: datetime | None
    records: int
    rejected: int
    checkpoints: int
    last_checkpoint_at: datetime | None
    error: str | None
    #: The source's own note on how the read went (``RATE_LIMITED (quota resets at …)``).
    notes: str | None = None
    holder: str


def start(
    conn: Connection,
    connection: str,
    stream: str,
    holder: str,
    *,
    full_refresh: bool,
    now: datetime,
) -> int:
    """Record the start of a run; returns its id."""
    result = conn.execute(
        sync_runs.insert().values(
            connection=connection,
            stream=stream,
            holder=holder,
            full_refresh=full_refresh,
            status=RUNNING,
            started_at=now,
            updated_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def progress(
    conn: Connection,
    run_id: int,
    *,
    records: int,
    rejected: int,
    checkpoint: bool,
    now: datetime,
) -> None:
    """Add what one commit of the run wrote (inside that commit's transaction)."""
    values: dict[str, object] = {
        "records": sync_runs.c.records + records,
        "rejected": sync_runs.c.rejected + rejected,
        "updated_at": now,
    }
    if checkpoint:
        values["checkpoints"] = sync_runs.c.checkpoints + 1
        values["last_checkpoint_at"] = now
    conn.execute(update(sync_runs).where(sync_runs.c.id == run_id).values(**values))


def finish(
    conn: Connection,
    run_id: int,
    status: str,
    *,
    now: datetime,
    error: str | None = None,
    notes: str | None = None,
) -> None:
    conn.execute(
        update(sync_runs)
        .where(sync_runs.c.id == run_id)
        .values(status=status, finished_at=now, updated_at=now, error=error, notes=notes)
    )


def mark_abandoned(conn: Connection, connection: str, holder: str) -> int:
    """Mark the connection's ``running`` runs of other holders ``interrupted``.

    Called by the run that has just taken the lease: no other run can be live, so any
    row still ``running`` belongs to a process that died. Its finish time is the last
    time it was heard from (its last commit).
    """
    result = conn.execute(
        update(sync_runs)
        .where(
            sync_runs.c.connection == connection,
            sync_runs.c.status == RUNNING,
            sync_runs.c.holder != holder,
        )
        .values(status=INTERRUPTED, finished_at=sync_runs.c.updated_at, error=ABANDONED)
    )
    return int(result.rowcount or 0)


def _model(row: object) -> SyncRun:
    data = dict(row._mapping)  # type: ignore[attr-defined]
    for key in ("started_at", "finished_at", "last_checkpoint_at"):
        if data[key] is not None:
            data[key] = utc(data[key])
    return SyncRun.model_validate({k: v for k, v in data.items() if k != "updated_at"})


def recent(
    conn: Connection,
    *,
    connection: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[SyncRun]:
    """The latest runs, newest first."""
    query = select(sync_runs).order_by(sync_runs.c.id.desc()).limit(limit)
    if connection is not None:
        query = query.where(sync_runs.c.connection == connection)
    if status is not None:
        query = query.where(sync_runs.c.status == status)
    return [_model(row) for row in conn.execute(query)]


def latest_per_stream(conn: Connection) -> list[SyncRun]:
    """The last run of each stream of each connection, by connection and stream."""
    last = (
        select(func.max(sync_runs.c.id).label("id"))
        .group_by(sync_runs.c.connection, sync_runs.c.stream)
        .subquery()
    )
    query = (
        select(sync_runs)
        .join(last, last.c.id == sync_runs.c.id)
        .order_by(sync_runs.c.connection, sync_runs.c.stream)
    )
    return [_model(row) for row in conn.execute(query)]


def totals(conn: Connection) -> dict[tuple[str, str], int]:
    """Runs per (connection, status), for metrics."""
    rows = conn.execute(
        select(sync_runs.c.connection, sync_runs.c.status, func.count()).group_by(
            sync_runs.c.connection, sync_runs.c.status
        )
    ).all()
    return {(c, s): int(n) for c, s, n in rows}

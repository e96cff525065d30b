"""Persisted lane state: paused or not and why, the last error, the heartbeat.

Every text stored here has been redacted by the caller; :func:`pause` and
:func:`note_error` redact again, since a reason may come from a vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from spokehub.store.driver_sql import dialect_insert, transaction, utc, utcnow
from spokehub.store.tables import delivery_lanes
from spokehub_contracts import redact

_MAX_TEXT = 500


@dataclass(frozen=True)
class LaneState:
    connection: str
    paused_at: datetime | None = None
    reason: str | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    seen_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def clean(text: str) -> str:
    """Redacted and cut to one storable line."""
    return redact(" ".join(text.split()))[:_MAX_TEXT]


def upsert_lane(conn: Connection, connection: str, **values: Any) -> None:
    """Create the lane's row if needed and set ``values`` on it."""
    stmt = dialect_insert(conn, delivery_lanes).values(connection=connection, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["connection"], set_=values))


def read_lane(conn: Connection, connection: str) -> LaneState:
    row = conn.execute(
        select(delivery_lanes).where(delivery_lanes.c.connection == connection)
    ).first()
    if row is None:
        return LaneState(connection)
    return _state(row)


def read_lanes(conn: Connection) -> dict[str, LaneState]:
    return {r.connection: _state(r) for r in conn.execute(select(delivery_lanes))}


def _state(row: Any) -> LaneState:
    def aware(value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    return LaneState(
        connection=row.connection,
        paused_at=aware(row.paused_at),
        reason=row.reason,
        last_error=row.last_error,
        last_error_at=aware(row.last_error_at),
        seen_at=aware(row.seen_at),
    )


def pause(engine: Engine, connection: str, reason: str) -> None:
    """Pause the lane until :func:`resume`; status shows ``reason``."""
    now = utcnow()
    text = clean(reason)
    with transaction(engine) as conn:
        upsert_lane(
            conn, connection, paused_at=now, reason=text, last_error=text, last_error_at=now
        )


def resume(engine: Engine, connection: str) -> bool:
    """Unpause the lane; ``True`` if it was paused."""
    with transaction(engine) as conn:
        was = read_lane(conn, connection).paused
        upsert_lane(conn, connection, paused_at=None, reason=None)
    return was


def is_paused(engine: Engine, connection: str) -> LaneState:
    with transaction(engine, readonly=True) as conn:
        return read_lane(conn, connection)


def heartbeat(engine: Engine, connection: str) -> None:
    with transaction(engine) as conn:
        upsert_lane(conn, connection, seen_at=utcnow())


def note_error(conn: Connection, connection: str, error: str) -> None:
    upsert_lane(conn, connection, last_error=clean(error), last_error_at=utcnow())

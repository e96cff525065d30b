"""Where each pulled stream resumes: the source's state, saved beside its records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ..store.driver_sql import dialect_insert
from ..store.tables import source_state


def load_state(conn: Connection, connection: str, stream: str) -> dict[str, Any] | None:
    """The saved position of ``stream`` of ``connection``, or ``None`` for a first run."""
    row = conn.execute(
        select(source_state.c.state).where(
            source_state.c.connection == connection, source_state.c.stream == stream
        )
    ).first()
    return dict(row[0]) if row is not None else None


def save_state(
    conn: Connection, connection: str, stream: str, state: dict[str, Any], now: datetime
) -> None:
    values = {"connection": connection, "stream": stream, "state": state, "updated_at": now}
    stmt = dialect_insert(conn, source_state).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection", "stream"],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
    )

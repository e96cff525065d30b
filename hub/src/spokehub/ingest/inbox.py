"""Writing accepted messages to the durable inbox, de-duplicated on ``messageId``.

One transaction per request: the inbox rows and the seen ``messageId`` rows commit
together, so an acknowledged message is stored exactly once and a failed request stores
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete
from sqlalchemy.exc import IntegrityError, OperationalError

from spokehub_contracts import utcnow

from ..store.engine import write_turn
from ..store.tables import inbox, message_ids
from .messages import Accepted

#: Attempts for one request when two writers race on the same messageId (PostgreSQL).
_ATTEMPTS = 3


@dataclass(frozen=True)
class InboxWrite:
    """What one write did: how many rows were stored and how many were duplicates."""

    stored: int
    duplicates: int


def write_messages(
    engine: Engine,
    connection: str,
    messages: Sequence[Accepted],
    *,
    dedup_window: float,
    kind: str = "event",
    now: datetime | None = None,
) -> InboxWrite:
    """Store ``messages`` from source ``connection`` in the inbox, skipping any whose
    ``messageId`` was already stored for that source within ``dedup_window`` seconds
    (and repeats inside ``messages`` itself). Returns once committed.
    """
    for attempt in range(_ATTEMPTS):
        try:
            with write_turn(engine, urgent=True), engine.begin() as conn:
                return write_messages_in(
                    conn, connection, messages, dedup_window=dedup_window, kind=kind, now=now
                )
        except IntegrityError:
            # Another request committed the same messageId between our read and write;
            # the retry sees it and counts it as a duplicate.
            if attempt == _ATTEMPTS - 1:
                raise
        except OperationalError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def write_messages_in(
    conn: Connection,
    connection: str,
    messages: Sequence[Accepted],
    *,
    dedup_window: float,
    kind: str = "event",
    now: datetime | None = None,
) -> InboxWrite:
    """:func:`write_messages` inside the caller's transaction (sync runs, webhooks)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=dedup_window)
    wanted: dict[str, Accepted] = {}
    for msg in messages:
        wanted.setdefault(msg.message_id, msg)

    seen_fresh: set[str] = set()
    expired: list[str] = []
    ids = list(wanted)
    for mid, received in _seen(conn, connection, ids):
        if _aware(received) >= cutoff:
            seen_fresh.add(mid)
        else:
            expired.append(mid)
    if expired:
        # Outside the window a repeat is a new message: forget the old sighting.
        for chunk in _chunks(expired, 500):
            conn.execute(
                delete(message_ids).where(
                    and_(
                        message_ids.c.connection == connection, message_ids.c.message_id.in_(chunk)
                    )
                )
            )

    fresh = [m for mid, m in wanted.items() if mid not in seen_fresh]
    if fresh:
        _insert_rows(conn, connection, kind, fresh, now)
    return InboxWrite(stored=len(fresh), duplicates=len(messages) - len(fresh))


def _insert_rows(
    conn: Connection, connection: str, kind: str, fresh: list[Accepted], now: datetime
) -> None:
    # The hot path of ingestion: driver-level SQL, with the values every row shares
    # converted once (SQLAlchemy would convert the timestamp per row).
    dialect = conn.dialect
    stamp = inbox.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
    moment = stamp(now) if stamp is not None else now
    if dialect.name == "sqlite":
        _insert_rows_sqlite(conn, connection, kind, fresh, moment)
        return
    conn.exec_driver_sql(
        "INSERT INTO message_ids (connection, message_id, received_at) VALUES (%s, %s, %s)",
        [(connection, m.message_id, moment) for m in fresh],
    )
    conn.exec_driver_sql(
        "INSERT INTO inbox (connection, kind, message_id, partition_key, body, received_at,"
        " status) VALUES (%s, %s, %s, %s, %s, %s, 'pending')",
        [(connection, kind, m.message_id, m.partition_key, m.body.decode(), moment) for m in fresh],
    )


#: Rows per multi-row INSERT on SQLite (6 parameters a row, far below its 32,766).
_SQLITE_ROWS = 500


def _insert_rows_sqlite(
    conn: Connection, connection: str, kind: str, fresh: list[Accepted], moment: object
) -> None:
    # One multi-row INSERT per table (per 500 rows) rather than an executemany: SQLite
    # steps once instead of once a row, and the driver gives up and takes back the GIL
    # once, so a thread busy beside it (the pipeline) does not win it at every row.
    # Rows keep their order, and with it their inbox ids.
    for start in range(0, len(fresh), _SQLITE_ROWS):
        part = fresh[start : start + _SQLITE_ROWS]
        ids: list[object] = []
        rows: list[object] = []
        for m in part:
            ids += (connection, m.message_id, moment)
            rows += (connection, kind, m.message_id, m.partition_key, m.body.decode(), moment)
        conn.exec_driver_sql(
            "INSERT INTO message_ids (connection, message_id, received_at) VALUES "
            + ", ".join(["(?, ?, ?)"] * len(part)),
            tuple(ids),
        )
        conn.exec_driver_sql(
            "INSERT INTO inbox (connection, kind, message_id, partition_key, body, received_at,"
            " status) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, 'pending')"] * len(part)),
            tuple(rows),
        )


def _seen(conn: Connection, connection: str, ids: list[str]) -> list[tuple[str, datetime]]:
    # Driver SQL: SQLAlchemy would render an expanding IN of up to 500 names per request.
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    parse = message_ids.c.received_at.type.dialect_impl(dialect).result_processor(dialect, None)
    found: list[tuple[str, datetime]] = []
    for chunk in _chunks(ids, 500):
        rows = conn.exec_driver_sql(
            "SELECT message_id, received_at FROM message_ids WHERE connection = "
            f"{mark} AND message_id IN ({', '.join([mark] * len(chunk))})",
            (connection, *chunk),
        ).all()
        if parse is not None:
            found.extend((mid, parse(received)) for mid, received in rows)
        else:
            found.extend((mid, received) for mid, received in rows)
    return found


def prune_message_ids(engine: Engine, dedup_window: float, now: datetime | None = None) -> int:
    """Delete sightings older than the window; returns how many were removed."""
    cutoff = (now or utcnow()) - timedelta(seconds=dedup_window)
    with engine.begin() as conn:
        return conn.execute(delete(message_ids).where(message_ids.c.received_at < cutoff)).rowcount


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

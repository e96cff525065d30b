"""Writing accepted messages to the durable inbox, de-duplicated on ``messageId``.

A request's inbox rows and seen ``messageId`` rows commit in one transaction (on SQLite
possibly together with other requests', see :mod:`spokehub.ingest.group`), so an
acknowledged message is stored exactly once and a failed request stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from ..store.driver_sql import Cursor, chunks, cursor, insert_sql, marks, transaction, utcnow
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
    return _committed(
        engine,
        lambda conn: write_messages_in(
            conn, connection, messages, dedup_window=dedup_window, kind=kind, now=now
        ),
    )


def _committed(engine: Engine, write: Callable[[Connection], InboxWrite]) -> InboxWrite:
    """``write`` in a transaction of its own, tried again when it fails on a key: another
    request committed the same messageId (or delivery) between our read and write, and
    the retry sees it and counts it as a duplicate; or when the store was busy."""
    for attempt in range(_ATTEMPTS):
        try:
            with transaction(engine, urgent=True) as conn:
                return write(conn)
        except (IntegrityError, OperationalError):
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def write_delivery(
    engine: Engine,
    connection: str,
    delivery_key: str,
    messages: Sequence[Accepted],
    *,
    dedup_window: float,
    kind: str = "record",
    now: datetime | None = None,
) -> InboxWrite:
    """:func:`write_messages` for one webhook delivery of an event the vendor named
    (``delivery_key``): if ``connection`` delivered that event within ``dedup_window``
    seconds nothing is stored, whatever the messages; otherwise the key is kept as a seen
    ``messageId`` beside the messages, in one transaction.
    """

    def write(conn: Connection) -> InboxWrite:
        moment = now or utcnow()
        cur = cursor(conn)
        cutoff = moment - timedelta(seconds=dedup_window)
        for _key, received in _seen(cur, connection, [delivery_key]):
            if received >= cutoff:
                return InboxWrite(stored=0, duplicates=len(messages))
            cur.run(
                "DELETE FROM message_ids WHERE connection = ? AND message_id = ?",
                (connection, delivery_key),
            )
        cur.many(
            insert_sql("message_ids", _MESSAGE_ID_COLUMNS),
            [(connection, delivery_key, cur.driver.stamp(moment))],
        )
        return write_messages_in(
            conn, connection, messages, dedup_window=dedup_window, kind=kind, now=moment
        )

    # The same event delivered at once by another request fails on its key: the retry
    # sees it.
    return _committed(engine, write)


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
    return write_requests_in(conn, [(connection, messages, dedup_window, kind)], now=now)[0]


#: One request's share of a group write: source connection, messages, de-duplication
#: window (seconds) and inbox kind.
RequestRows = tuple[str, Sequence[Accepted], float, str]


def write_requests_in(
    conn: Connection, requests: Sequence[RequestRows], *, now: datetime | None = None
) -> list[InboxWrite]:
    """Store several requests' messages in the caller's transaction, as if each were
    written after the one before it: a ``messageId`` that an earlier request of the same
    source stores is a duplicate in a later one. One look-up of seen ``messageId`` rows
    and one multi-row INSERT per table (per :data:`_ROWS`) serve every request."""
    now = now or utcnow()
    wanted: list[dict[str, Accepted]] = []
    by_source: dict[str, set[str]] = {}
    for connection, messages, _window, _kind in requests:
        first: dict[str, Accepted] = {}
        for msg in messages:
            first.setdefault(msg.message_id, msg)
        wanted.append(first)
        by_source.setdefault(connection, set()).update(first)

    cur = cursor(conn)
    if not cur.driver.postgres:
        unseen = _write_if_unseen(conn, cur, requests, wanted, now)
        if unseen is not None:
            return unseen

    seen: dict[tuple[str, str], datetime] = {}
    for connection, ids in by_source.items():
        for mid, received in _seen(cur, connection, list(ids)):
            seen[(connection, mid)] = received
    results, fresh, expired = _sort_out(requests, wanted, seen, now)

    per_statement = cur.driver.rows_per_statement(1, shared=1)
    for connection, mids in expired.items():
        for part in chunks(mids, per_statement):
            cur.run(
                "DELETE FROM message_ids WHERE connection = ?"
                f" AND message_id IN ({marks(len(part))})",
                (connection, *part),
            )
    if fresh:
        _insert_rows(cur, fresh, now)
    return results


def _sort_out(
    requests: Sequence[RequestRows],
    wanted: list[dict[str, Accepted]],
    seen: dict[tuple[str, str], datetime],
    now: datetime,
) -> tuple[list[InboxWrite], list[tuple[str, str, Accepted]], dict[str, list[str]]]:
    """Each request's outcome, the rows to store and, per source, the sightings to
    replace, given the ``messageId`` sightings already stored (``seen``, consumed)."""
    expired: dict[str, list[str]] = {}
    taken: set[tuple[str, str]] = set()
    fresh: list[tuple[str, str, Accepted]] = []
    results: list[InboxWrite] = []
    for (connection, messages, window, kind), first in zip(requests, wanted, strict=True):
        cutoff = now - timedelta(seconds=window)
        stored = 0
        for mid, msg in first.items():
            key = (connection, mid)
            if key in taken:
                continue  # an earlier request of the group stores it
            received = seen.get(key)
            if received is not None:
                if received >= cutoff:
                    continue
                # Outside the window a repeat is a new message: forget the old sighting.
                expired.setdefault(connection, []).append(mid)
                del seen[key]
            taken.add(key)
            fresh.append((connection, kind, msg))
            stored += 1
        results.append(InboxWrite(stored=stored, duplicates=len(messages) - stored))
    return results, fresh, expired


def _write_if_unseen(
    conn: Connection,
    cur: Cursor,
    requests: Sequence[RequestRows],
    wanted: list[dict[str, Accepted]],
    now: datetime,
) -> list[InboxWrite] | None:
    """The usual case on SQLite, no ``messageId`` of the group stored before: write every
    message at once and let the primary key of ``message_ids`` tell whether one was. If
    one was (a retry, or a sighting outside the window that must be replaced), the
    writes are undone and ``None`` sends the caller down the look-up path.

    The look-up of a group's ``messageId`` rows cost as much as writing them; a repeat is
    the exception (a client's retry), and costs its group one undone write."""
    results, fresh, _expired = _sort_out(requests, wanted, {}, now)
    if not fresh:
        return results
    savepoint = conn.begin_nested()
    try:
        _insert_rows(cur, fresh, now)
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return results


#: One stored sighting of a ``messageId``, and the inbox row itself (its status literal).
_MESSAGE_ID_COLUMNS = ("connection", "message_id", "received_at")
_INBOX_COLUMNS = ("connection", "kind", "message_id", "partition_key", "body", "received_at")
_INBOX_ROW = "(?, ?, ?, ?, ?, ?, 'pending')"


def _insert_rows(cur: Cursor, fresh: list[tuple[str, str, Accepted]], now: datetime) -> None:
    """The hot path of ingestion; the timestamp every row shares is bound once. Rows
    keep their order, and with it their inbox ids."""
    moment = cur.driver.stamp(now)
    if cur.driver.postgres:
        # psycopg pipelines an executemany, and one statement text serves every count.
        cur.many(
            insert_sql("message_ids", _MESSAGE_ID_COLUMNS),
            [(c, m.message_id, moment) for c, _k, m in fresh],
        )
        cur.many(
            insert_sql("inbox", (*_INBOX_COLUMNS, "status"), row=_INBOX_ROW),
            [(c, k, m.message_id, m.partition_key, m.body.decode(), moment) for c, k, m in fresh],
        )
        return
    # SQLite: one multi-row INSERT per table (per up to 1,000 rows) rather than an
    # executemany: SQLite steps once instead of once a row, and the driver gives up and
    # takes back the GIL once, so a thread busy beside it (the event loop) does not win
    # it at every row.
    per_statement = cur.driver.rows_per_statement(len(_INBOX_COLUMNS))
    for start in range(0, len(fresh), per_statement):
        part = fresh[start : start + per_statement]
        ids: list[object] = []
        rows: list[object] = []
        for connection, kind, m in part:
            mid = m.message_id
            ids += (connection, mid, moment)
            rows += (connection, kind, mid, m.partition_key, m.body.decode(), moment)
        n = len(part)
        cur.run(insert_sql("message_ids", _MESSAGE_ID_COLUMNS, rows=n), ids)
        cur.run(insert_sql("inbox", (*_INBOX_COLUMNS, "status"), rows=n, row=_INBOX_ROW), rows)


def _seen(cur: Cursor, connection: str, ids: list[str]) -> list[tuple[str, datetime]]:
    """The stored sightings of ``ids`` from ``connection``, as (messageId, received_at)."""
    parse = cur.driver.parse
    found: list[tuple[str, datetime]] = []
    for part in chunks(ids, cur.driver.rows_per_statement(1, shared=1)):
        if cur.driver.postgres:
            # One array parameter: the same statement text whatever the count, which the
            # server plans far faster than a list of hundreds of parameters.
            rows = cur.rows(
                "SELECT message_id, received_at FROM message_ids WHERE connection = ?"
                " AND message_id = ANY(?)",
                (connection, list(part)),
            )
        else:
            rows = cur.rows(
                "SELECT message_id, received_at FROM message_ids WHERE connection = ?"
                f" AND message_id IN ({marks(len(part))})",
                (connection, *part),
            )
        found.extend((mid, parse(received)) for mid, received in rows)
    return found


def prune_message_ids(engine: Engine, dedup_window: float, now: datetime | None = None) -> int:
    """Delete sightings older than the window; returns how many were removed."""
    cutoff = (now or utcnow()) - timedelta(seconds=dedup_window)
    with transaction(engine) as conn:
        cur = cursor(conn)
        return cur.run("DELETE FROM message_ids WHERE received_at < ?", (cur.driver.stamp(cutoff),))

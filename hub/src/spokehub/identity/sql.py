"""Small SQL building blocks shared by identity and profiles: chunked ``IN`` lookups,
dialect-specific "insert, ignoring duplicates", and UTC timestamps for both backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

#: Bound parameters per ``IN`` list: far below SQLite's and PostgreSQL's limits, large
#: enough that a 10k-record batch needs only a handful of round trips.
CHUNK = 2000


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime.

    SQLite stores timestamps without an offset and returns them naive; every timestamp
    crossing the store boundary goes through here so comparisons never mix the two.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def insert_ignoring_duplicates(conn: Connection, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the connection's backend."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported store backend {name!r}")


def is_postgres(conn: Connection) -> bool:
    """True when ``conn`` talks to PostgreSQL (which needs explicit locks; SQLite's
    ``BEGIN IMMEDIATE`` already serializes writers)."""
    return conn.dialect.name == "postgresql"


def rows_as_dicts(result: Any) -> list[dict[str, Any]]:
    """Every row of ``result`` as a plain dict."""
    return [dict(row._mapping) for row in result]


def upsert(conn: Connection, table: Table) -> Any:
    """A dialect ``INSERT`` that supports ``on_conflict_do_update`` (same API on both)."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported store backend {name!r}")

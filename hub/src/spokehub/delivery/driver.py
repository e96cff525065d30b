"""The lane's hot statements as driver SQL, for either backend.

A lane claims and records a batch of up to a few hundred rows several times a second;
through SQLAlchemy Core each such statement is compiled with an expanding ``IN`` list
and every timestamp goes through the column type's converter, row by row, which costs
more than the database's own work. Here each statement is one string per backend, built
once, with plain tuples as parameters; timestamps are converted the way SQLAlchemy's
``DateTime`` would store them. Statements still go through ``conn.exec_driver_sql``, so
SQLAlchemy's events and error wrapping apply as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from spokehub.store.driver_sql import placeholder, timestamp_binder
from spokehub.store.tables import outbox

from .clock import as_utc


@dataclass(frozen=True)
class Driver:
    """How to talk to one backend's driver."""

    postgres: bool
    #: The driver's placeholder: ``?`` (SQLite) or ``%s`` (psycopg).
    mark: str
    #: A UTC datetime as the driver should receive it.
    stamp: Callable[[datetime], Any]
    #: A stored timestamp as the driver returns it, as an aware UTC datetime.
    parse: Callable[[Any], datetime]

    def marks(self, n: int) -> str:
        return ", ".join([self.mark] * n)


_DRIVERS: dict[tuple[str, str], Driver] = {}


def driver(conn: Connection) -> Driver:
    """The :class:`Driver` of ``conn``'s dialect (built once per backend)."""
    dialect = conn.dialect
    key = (dialect.name, dialect.paramstyle)
    found = _DRIVERS.get(key)
    if found is None:
        found = _DRIVERS[key] = _build(conn)
    return found


def _build(conn: Connection) -> Driver:
    dialect = conn.dialect
    mark = placeholder(dialect)
    result = outbox.c.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
    samples = (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 7))
    stamp = timestamp_binder(dialect)

    parse: Callable[[Any], datetime] = as_utc
    if result is not None:
        texts = [stamp(d) for d in samples]
        if all(result(t) == _from_iso(t).replace(tzinfo=None) for t in texts):
            parse = _from_iso
        else:
            parse = _through(result)

    return Driver(
        postgres=dialect.name == "postgresql",
        mark=mark,
        stamp=stamp,
        parse=parse,
    )


def _through(process: Callable[[Any], Any]) -> Callable[[Any], datetime]:
    def parse(value: Any) -> datetime:
        return as_utc(process(value))

    return parse


def _from_iso(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return as_utc(value)

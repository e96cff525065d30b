"""The store seam: what every write transaction and every hot statement goes through.

The hot paths (ingestion, the pipeline, identity resolution, the delivery lanes) send
their statements as *driver SQL*: one string, plain tuples as parameters, no compilation
and no per-row type processing, which on those paths cost more than the database's own
work. Everything such a statement needs to be written once for both backends lives here,
so no call site works out a backend's difference again.

**Transactions.** :func:`transaction` is the one way to begin a write transaction::

    with transaction(engine, urgent=True) as conn:   # a client waits for the answer
        ...
    with transaction(engine) as conn:                 # background work (the default)
        ...
    with transaction(engine, readonly=True) as conn:  # a read: no writer's turn
        ...

On SQLite it first takes the writer's turn at the gate (:mod:`spokehub.store.gate`), with
the given priority, and then begins (``BEGIN IMMEDIATE``); on PostgreSQL, whose writers
do not exclude each other, it simply begins. A transaction begun any other way still
takes a background writer's turn (the engine's ``begin`` event), but says nothing of its
urgency.

**Driver SQL.** Statements are written with the neutral marker ``?`` and run through a
:class:`Cursor` (``cursor(conn)``), which hands them to the connection's own DB-API
cursor in the driver's parameter style (``?`` for sqlite3, ``%s`` for psycopg; on psycopg
a literal ``%`` is doubled for you, and no ``?`` may appear inside a string literal)::

    cur = cursor(conn)
    cur.run("UPDATE inbox SET status = ?, processed_at = ? WHERE id = ?", rows_as_tuples)
    found = cur.rows(f"SELECT id, value FROM identifiers WHERE value IN ({marks(n)})", values)

Driver errors come back as SQLAlchemy's ``DBAPIError`` subclasses (``IntegrityError``,
``OperationalError``…), as ``Connection.execute`` would raise them, with the parameters
left out of the message (they carry personal data).

What else a statement needs, per backend, is on :class:`Driver` (``driver(conn)``, built
once per backend): ``stamp`` binds an aware UTC datetime exactly as a
``DateTime(timezone=True)`` column would store it, so rows written either way read back
alike (pass it UTC: on SQLite it keeps the wall time it is given, as the column type
does); ``parse`` turns a stored timestamp back into an aware UTC datetime; ``postgres``
tells the backends apart where the SQL must differ (``FOR UPDATE SKIP LOCKED``, ``= ANY``
of an array); ``max_params`` is the most parameters one statement may carry (SQLite's
variable limit, as compiled into the library in use; PostgreSQL's protocol limit).

- :func:`marks` and :func:`values` build neutral marker lists (``?, ?, ?``) and multi-row
  ``VALUES`` lists, cached;
- :func:`chunks` slices a list, and :meth:`Driver.rows_per_statement` says how many rows
  of ``n`` parameters one statement may carry;
- :meth:`Cursor.insert` inserts many rows the fastest way each backend has;
- :func:`insert_sql` writes ``INSERT … ON CONFLICT DO NOTHING`` ("insert or ignore") and
  ``… ON CONFLICT (key) DO UPDATE SET c = excluded.c`` (upsert): the same text is valid
  on SQLite and PostgreSQL; :func:`dialect_insert` is the same for a Core statement;
- :func:`json_text` is a JSON column's text, as the engine writes it;
- :func:`utc` and :func:`utcnow`: SQLite returns stored timestamps naive, PostgreSQL
  aware; every timestamp crossing the store boundary goes through ``utc`` so comparisons
  never mix the two.

Statements that run a few times a minute (an operator's replay, a lane pausing) may stay
in SQLAlchemy Core inside a :func:`transaction`; the seam is for the ones that run per
batch or per request.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, DateTime, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from .engine import json_text
from .gate import gate_of
from .pg_batches import Batched, batched, rounds

__all__ = [
    "CHUNK",
    "Cursor",
    "Driver",
    "chunks",
    "cursor",
    "dialect_insert",
    "driver",
    "insert_sql",
    "iso_text",
    "json_text",
    "marks",
    "placeholder",
    "timestamp_binder",
    "transaction",
    "utc",
    "utcnow",
    "values",
]

T = TypeVar("T")

#: Parameters per ``IN`` list by default: far below either backend's limit, large enough
#: that a 10k-record batch needs only a handful of round trips.
CHUNK = 2000

#: PostgreSQL's wire protocol counts a statement's parameters in 16 bits.
_PG_MAX_PARAMS = 65535

#: Most rows a per-row statement gathers into one on PostgreSQL. Up to a few dozen rows
#: one statement saves the pipeline's per-row exchange; past that psycopg's pipelined
#: ``executemany`` costs less CPU on both sides than binding one statement's thousands
#: of parameters (measured: 200-row batches of events cost the worker a third more).
_PG_ROWS_AS_ONE = 32

_SAMPLES = (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 7))


# -- transactions -------------------------------------------------------------------------


@contextlib.contextmanager
def transaction(
    engine: Engine, *, urgent: bool = False, readonly: bool = False
) -> Iterator[Connection]:
    """A transaction on ``engine``: commits when the block ends, rolls back if it raises.

    :param urgent: a client waits for this write (an API request): on SQLite it goes
        before background writers (pipeline batches, sync runs, delivery lanes, CLI
        commands), which are never starved either (see :class:`~.gate.WriterGate`).
    :param readonly: only reads: no writer's turn, and on SQLite a deferred ``BEGIN``
        that runs beside the writer.
    """
    if readonly:
        if urgent:
            raise ValueError("a read-only transaction takes no writer's turn to hurry")
        with engine.connect().execution_options(readonly=True) as conn, conn.begin():
            yield conn
        return
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    # The turn first, then a pooled connection: a writer queueing for its turn holds none.
    with gate_of(engine).hold(urgent=urgent), engine.begin() as conn:
        yield conn


# -- one backend's driver -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Driver:
    """How to speak to one backend's DB-API driver (see :func:`driver`)."""

    #: The dialect's name: ``sqlite`` or ``postgresql``.
    name: str
    #: True for PostgreSQL, where some statements differ (row locks, array parameters).
    postgres: bool
    #: The driver's own parameter marker: ``?`` (sqlite3) or ``%s`` (psycopg).
    mark: str
    #: An aware UTC datetime as the driver should receive it for a timestamp column.
    stamp: Callable[[datetime], Any]
    #: A timestamp as the driver returns it, as an aware UTC datetime.
    parse: Callable[[Any], datetime]
    #: Most parameters one statement may carry.
    max_params: int
    _texts: dict[str, str] = field(default_factory=dict, repr=False)

    def sql(self, text: str) -> str:
        """``text``, written with the neutral marker ``?``, in the driver's style."""
        if self.mark == "?":
            return text
        found = self._texts.get(text)
        if found is None:
            if len(self._texts) > 4096:  # statements built per count: keep the cache bounded
                self._texts.clear()
            found = self._texts[text] = text.replace("%", "%%").replace("?", self.mark)
        return found

    def rows_per_statement(self, params_per_row: int, cap: int = 1000, *, shared: int = 0) -> int:
        """How many rows of ``params_per_row`` parameters one statement may carry beside
        ``shared`` parameters of its own (at most ``cap``: past a thousand rows a longer
        statement saves nothing)."""
        return max(1, min(cap, (self.max_params - shared) // max(1, params_per_row)))


_DRIVERS: dict[tuple[str, str], Driver] = {}


def driver(conn: Connection) -> Driver:
    """The :class:`Driver` of ``conn``'s backend (worked out once per backend)."""
    dialect = conn.dialect
    found = _DRIVERS.get((dialect.name, dialect.driver))
    if found is None:
        found = _DRIVERS[(dialect.name, dialect.driver)] = _build(conn)
    return found


def _build(conn: Connection) -> Driver:
    dialect = conn.dialect
    stamp = timestamp_binder(dialect)
    result = DateTime(timezone=True).dialect_impl(dialect).result_processor(dialect, None)
    parse: Callable[[Any], datetime] = utc
    if result is not None:
        if all(result(t) == _from_iso(t).replace(tzinfo=None) for t in map(stamp, _SAMPLES)):
            parse = _from_iso
        else:
            parse = _through(result)
    if dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    else:
        limit = _PG_MAX_PARAMS
    return Driver(
        name=dialect.name,
        postgres=dialect.name == "postgresql",
        mark=placeholder(dialect),
        stamp=stamp,
        parse=parse,
        max_params=limit,
    )


def placeholder(dialect: Dialect) -> str:
    """The driver's parameter marker: ``?`` (SQLite) or ``%s`` (psycopg).

    :raises NotImplementedError: for any other parameter style.
    """
    style = dialect.paramstyle
    if style not in ("qmark", "format", "pyformat"):
        raise NotImplementedError(f"unsupported driver parameter style {style!r}")
    return "?" if style == "qmark" else "%s"


#: Binders by (dialect, driver): working one out takes longer than a small statement.
_BINDERS: dict[tuple[str, str], Callable[[datetime], Any]] = {}


def timestamp_binder(dialect: Dialect) -> Callable[[datetime], Any]:
    """How a UTC datetime is handed to the driver: what a ``DateTime(timezone=True)``
    column would bind (SQLite stores text), the cheap way when that gives the same text."""
    key = (dialect.name, dialect.driver)
    binder = _BINDERS.get(key)
    if binder is None:
        binder = _BINDERS[key] = _work_out(dialect)
    return binder


def iso_text(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff``: SQLite's stored form of a UTC timestamp (the
    offset, always +00:00 here, is not stored)."""
    return value.isoformat(" ", "microseconds")[:26]


def _work_out(dialect: Dialect) -> Callable[[datetime], Any]:
    process = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return _same
    if all(process(d) == iso_text(d) for d in _SAMPLES):
        return iso_text
    return process


def _same(value: datetime) -> datetime:
    return value


def _through(process: Callable[[Any], Any]) -> Callable[[Any], datetime]:
    def parse(value: Any) -> datetime:
        return utc(process(value))

    return parse


def _from_iso(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return utc(value)


# -- running statements -------------------------------------------------------------------


class Cursor:
    """Driver SQL on a connection's own DB-API cursor, inside its current transaction.

    No per-statement machinery of SQLAlchemy runs (a single record costs a handful of
    statements, where that machinery would cost more than SQLite does); statements are
    written with ``?`` (see :meth:`Driver.sql`) and parameters are plain tuples.
    """

    __slots__ = ("_cursor", "_error", "conn", "driver")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.driver = driver(conn)
        self._cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self._error = conn.dialect.loaded_dbapi.Error

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run ``statement`` (which returns rows: ``SELECT``, ``… RETURNING``); its rows
        as tuples."""
        text = self.driver.sql(statement)
        try:
            self._cursor.execute(text, params)
            return self._cursor.fetchall()  # type: ignore[no-any-return]
        except self._error as exc:
            raise _wrapped(text, params, exc, self._error, False) from exc

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run ``statement`` (returning no rows); how many rows it changed."""
        text = self.driver.sql(statement)
        try:
            self._cursor.execute(text, params)
        except self._error as exc:
            raise _wrapped(text, params, exc, self._error, False) from exc
        return self._cursor.rowcount  # type: ignore[no-any-return]

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``statement`` once per parameter tuple of ``rows`` (nothing when empty).

        On PostgreSQL one row is one ``execute``; a plain ``INSERT``, ``UPDATE`` or
        ``DELETE`` of up to a few dozen rows is one statement, which means what the rows
        one by one would, and a plain insert of more rows a ``COPY`` (see
        :mod:`~spokehub.store.pg_batches`); anything else an ``executemany``, which
        psycopg pipelines."""
        if not rows:
            return
        if self.driver.postgres:
            if len(rows) == 1:
                self.run(statement, rows[0])
                return
            whole = batched(statement)
            if whole is not None:
                if len(rows) <= _PG_ROWS_AS_ONE:
                    if whole.fits(rows):
                        self._batched(whole, rows)
                        return
                elif whole.copy is not None:
                    self._copy(whole, rows)
                    return
        text = self.driver.sql(statement)
        try:
            self._cursor.executemany(text, rows)
        except self._error as exc:
            raise _wrapped(text, rows, exc, self._error, True) from exc

    def _copy(self, whole: Batched, rows: Sequence[Sequence[Any]]) -> None:
        assert whole.copy is not None
        try:
            with self._cursor.copy(whole.copy) as copy:
                for row in whole.copy_rows(rows):
                    copy.write_row(row)
        except self._error as exc:
            raise _wrapped(whole.copy, rows, exc, self._error, True) from exc

    def _batched(self, whole: Batched, rows: Sequence[Sequence[Any]]) -> None:
        parts = rounds(rows, whole.key) if whole.in_rounds else [rows]
        size = self.driver.rows_per_statement(whole.width)
        for part in parts:
            for start in range(0, len(part), size):
                chunk = part[start : start + size]
                self.run(whole.text(len(chunk)), [v for r in chunk for v in r])

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        row: str | None = None,
        conflict: Sequence[str] = (),
        ignore: bool = False,
        update: Sequence[str] = (),
    ) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) as :func:`insert_sql` writes it,
        in order. On SQLite, one multi-row statement per as many rows as the variable
        limit allows (SQLite steps once instead of once a row, and the driver takes the
        GIL back once); on PostgreSQL as :meth:`many` sends it: a few rows as one
        statement (an upsert's in rounds of distinct keys), more as a ``COPY`` (a plain
        insert) or an ``executemany``."""
        if not rows:
            return
        if self.driver.postgres:
            self.many(
                insert_sql(
                    table, columns, row=row, conflict=conflict, ignore=ignore, update=update
                ),
                rows,
            )
            return
        size = self.driver.rows_per_statement(len(rows[0]))
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            text = insert_sql(
                table,
                columns,
                rows=len(part),
                row=row,
                conflict=conflict,
                ignore=ignore,
                update=update,
            )
            self.run(text, [value for r in part for value in r])


def cursor(conn: Connection) -> Cursor:
    """A :class:`Cursor` for ``conn``, for the statements of one transaction."""
    return Cursor(conn)


def _wrapped(statement: str, params: Any, exc: Exception, base: Any, many: bool) -> DBAPIError:
    return DBAPIError.instance(statement, params, exc, base, hide_parameters=True, ismulti=many)


# -- building statements ------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def marks(n: int) -> str:
    """``?, ?, …`` with ``n`` neutral markers."""
    return ", ".join(["?"] * n)


@functools.lru_cache(maxsize=512)
def values(row: str, n: int) -> str:
    """``n`` copies of a row's ``VALUES`` tuple, e.g. ``values("(?, ?, 'pending')", 2)``."""
    return ", ".join([row] * n)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_sql(
    table: str,
    columns: Sequence[str],
    *,
    rows: int = 1,
    row: str | None = None,
    conflict: Sequence[str] = (),
    ignore: bool = False,
    update: Sequence[str] = (),
) -> str:
    """``INSERT INTO table (columns) VALUES …`` for ``rows`` rows, with neutral markers.

    :param row: one row's ``VALUES`` tuple when it is not all markers (e.g. a literal).
    :param ignore: a row that conflicts with a stored one (on ``conflict``, or on any
        unique key when none is named) is skipped: "insert or ignore".
    :param update: on a conflict on ``conflict``, these columns take the new row's
        values (an upsert); an item with ``=`` is an assignment of its own, e.g.
        ``"count = t.count + excluded.count"``.

    The ``ON CONFLICT`` clauses written here mean the same on SQLite and PostgreSQL.
    """
    return _insert_sql(table, tuple(columns), rows, row, tuple(conflict), ignore, tuple(update))


@functools.lru_cache(maxsize=256)
def _insert_sql(
    table: str,
    columns: tuple[str, ...],
    rows: int,
    row: str | None,
    conflict: tuple[str, ...],
    ignore: bool,
    update: tuple[str, ...],
) -> str:
    if ignore and update:
        raise ValueError("a conflicting row is either ignored or updated, not both")
    if update and not conflict:
        raise ValueError("an upsert names the columns of the key it conflicts on")
    text = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        f"{values(row or f'({marks(len(columns))})', rows)}"
    )
    target = f" ({', '.join(conflict)})" if conflict else ""
    if ignore:
        return f"{text} ON CONFLICT{target} DO NOTHING"
    if update:
        changes = ", ".join(c if "=" in c else f"{c} = excluded.{c}" for c in update)
        return f"{text} ON CONFLICT{target} DO UPDATE SET {changes}"
    return text


def dialect_insert(conn: Connection, table: Table) -> PgInsert | SqliteInsert:
    """A Core ``INSERT`` of ``conn``'s backend: it has ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (the same API on both)."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported store backend {name!r}")


# -- UTC ----------------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one, as SQLite returns, is UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)

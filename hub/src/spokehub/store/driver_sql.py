"""What the hub's hot statements need to speak to the DB-API driver directly.

A few paths (identity resolution, the delivery lanes' claims and outcomes) send their
statements as driver SQL: one string per backend, plain tuples as parameters. They must
still store timestamps exactly as SQLAlchemy's ``DateTime`` column type would, so rows
written either way read back alike; this module works that out once per backend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect

#: Binders by (dialect, driver): working one out takes longer than a small statement.
_BINDERS: dict[tuple[str, str], Callable[[datetime], Any]] = {}

_SAMPLES = (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 7))


def placeholder(dialect: Dialect) -> str:
    """The driver's parameter marker: ``?`` (SQLite) or ``%s`` (psycopg).

    :raises NotImplementedError: for any other parameter style.
    """
    style = dialect.paramstyle
    if style not in ("qmark", "format", "pyformat"):
        raise NotImplementedError(f"unsupported driver parameter style {style!r}")
    return "?" if style == "qmark" else "%s"


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

"""Column types: the type a new trait's column gets, and whether a value fits a column.

New traits become columns (BI reads ``persons.loyalty_tier``, not a JSON path), typed by
the first value seen: text, bigint, double precision, boolean, timestamptz, date or
jsonb (objects and lists). A later value must fit the column; one that does not (text in
a bigint column) is refused for its item, naming the field and the column's type, and
the item is dead-lettered whole so nothing is half written.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Jsonb

TEXT = "text"
BIGINT = "bigint"
DOUBLE = "double precision"
BOOLEAN = "boolean"
TIMESTAMPTZ = "timestamptz"
DATE = "date"
JSONB = "jsonb"

# information_schema's data_type names, folded onto the families above, so tables made
# by hand or by ``spokehub contract export`` (json, varchar, integer, ...) are written too.
_FAMILIES = {
    "text": TEXT,
    "character varying": TEXT,
    "character": TEXT,
    "bigint": BIGINT,
    "integer": BIGINT,
    "smallint": BIGINT,
    "double precision": DOUBLE,
    "real": DOUBLE,
    "numeric": DOUBLE,
    "boolean": BOOLEAN,
    "timestamp with time zone": TIMESTAMPTZ,
    "timestamp without time zone": TIMESTAMPTZ,
    "date": DATE,
    "jsonb": JSONB,
    "json": JSONB,
}


def json_value(value: Any) -> Jsonb:
    """``value`` for a jsonb column; dates and anything else JSON lacks as their text."""
    return Jsonb(value, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


class Misfit(ValueError):
    """A value that does not fit its column; the message names the rule, never the value."""


def family(data_type: str) -> str:
    """The family of a column as information_schema names its type (unknown: text)."""
    return _FAMILIES.get(data_type, TEXT)


def infer(value: Any) -> str | None:
    """The column type a first ``value`` gives a new column; None for None (no column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return BIGINT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, datetime):
        return TIMESTAMPTZ
    if isinstance(value, date):
        return DATE
    if isinstance(value, dict | list | tuple):
        return JSONB
    return TEXT


def _kind(value: Any) -> str:
    return {
        BOOLEAN: "a boolean",
        BIGINT: "an integer",
        DOUBLE: "a number",
        TIMESTAMPTZ: "a date-time",
        DATE: "a date",
        JSONB: "an object or list",
    }.get(infer(value) or TEXT, "text")


def fit(value: Any, column_family: str) -> Any:
    """``value`` as the column takes it.

    :raises Misfit: when it cannot be stored without losing what it says.
    """
    if value is None:
        return None
    if column_family == JSONB:
        return json_value(value)
    if column_family == TEXT:
        if isinstance(value, str):
            return value
        if isinstance(value, datetime | date):
            return value.isoformat()
        return _dumps(value)
    if column_family == BIGINT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if column_family == BIGINT and isinstance(value, float) and value.is_integer():
        return int(value)
    if column_family == DOUBLE and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column_family == BOOLEAN and isinstance(value, bool):
        return value
    if column_family == TIMESTAMPTZ:
        moment = _datetime(value)
        if moment is not None:
            return moment
    if column_family == DATE:
        day = _date(value)
        if day is not None:
            return day
    raise Misfit(f"{_kind(value)} does not fit its {column_family} column")


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None

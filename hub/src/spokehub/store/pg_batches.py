"""Per-row statements as whole-batch statements, for PostgreSQL.

On PostgreSQL an ``executemany`` enters psycopg's pipeline mode and binds, sends and
reads back each row on its own: some 9 µs of the worker's CPU a row, and for the few rows
of one person (three traits, two identifiers) more than one statement carrying them all.
So a per-row statement (written with neutral ``?`` markers, one parameter tuple a row) is
rewritten here into one statement for all its rows, which :meth:`.Cursor.many` sends for
a few dozen rows at most (past that, binding one statement's thousands of parameters
costs more than the pipeline); and a plain insert of more rows, with neither ``ON
CONFLICT`` nor expressions in its row, becomes a ``COPY … FROM STDIN`` (200 rows of
events: a third of the executemany's CPU in the worker, under half its time):

- ``INSERT INTO t (…) VALUES (row) [ON CONFLICT …]`` becomes a multi-row ``VALUES``;
  an upsert (``DO UPDATE``) takes the rows in rounds with at most one row per conflict
  key each, since PostgreSQL refuses to change a row twice in one command, and the later
  of two rows for a key still lands last, as it would row by row;
- ``UPDATE t SET … WHERE k = ? [AND …]`` becomes ``UPDATE t SET … FROM (VALUES …) AS v
  WHERE k = v.…``, and ``DELETE FROM t WHERE k = ? [AND …]`` a ``DELETE … USING (VALUES
  …)``.

A rewritten statement means exactly what the rows run one by one would: an ``UPDATE`` is
only rewritten when each of its rows picks its target rows by equality on key columns the
statement does not assign (so two rows never reach the same target row, nor change which
rows another reaches) and when the batch's keys are distinct; anything else (and any
statement of another shape) runs as an ``executemany`` still. Parameters keep their
types: a ``VALUES`` list has no column to take a type from, so its first row is a row of
typed ``NULL``\\ s (``(NULL::t).c``: column ``c``'s own type, for a parameter compared
with or assigned to ``c``), which matches no key; a parameter elsewhere keeps the type
psycopg gives its value, and one sent untyped (a string, or ``NULL`` throughout) leaves
the batch row by row.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Batched", "batched", "rounds"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INSERT = re.compile(
    rf"\s*INSERT\s+INTO\s+({_NAME})\s*\(([^()]*)\)\s*VALUES\s*(\(.*)\Z", re.I | re.S
)
_UPDATE = re.compile(rf"\s*UPDATE\s+({_NAME})\s+SET\s+(.*?)\s+WHERE\s+(.*)\Z", re.I | re.S)
_DELETE = re.compile(rf"\s*DELETE\s+FROM\s+({_NAME})\s+WHERE\s+(.*)\Z", re.I | re.S)
_CONFLICT = re.compile(r"\s*ON\s+CONFLICT\s*\(([^()]*)\)\s*DO\s+UPDATE\b", re.I | re.S)
_EQUALS_PARAM = re.compile(rf"\s*({_NAME})\s*=\s*\?\s*\Z", re.S)
_LITERAL = re.compile(r"'[A-Za-z0-9_ .:-]*'")
_ASSIGN = re.compile(rf"\s*({_NAME})\s*=(.*)\Z", re.S)
#: Words after which a statement is not of the plain shapes rewritten here.
_OTHER = re.compile(r"\b(RETURNING|SELECT|FROM|USING|WITH)\b", re.I)
#: Parameter names in the ``VALUES`` alias, unlike any column of the store.
_P = "_batch_p"


@dataclass(frozen=True)
class Batched:
    """A per-row statement as a whole-batch one (see :func:`batched`)."""

    #: Text before the rows' ``VALUES`` tuples.
    head: str
    #: One row's tuple, of neutral markers.
    row: str
    #: Text after the rows (``ON CONFLICT …``, or the alias and ``WHERE`` of an update).
    tail: str
    #: Parameters a row carries.
    width: int
    #: Positions of the parameters no two rows may share (the key), or () when any may.
    key: tuple[int, ...]
    #: True when the rows go in rounds of distinct keys (an upsert); False when a
    #: repeated key sends the batch row by row (an update).
    in_rounds: bool = False
    #: Positions of parameters typed by their values alone (see the module's docstring).
    untyped: tuple[int, ...] = ()
    #: A plain insert's ``COPY … FROM STDIN``, or None.
    copy: str | None = None
    #: A ``COPY`` row's values: a parameter's position, or a literal string of the row.
    fill: tuple[int | str, ...] = ()

    def copy_rows(self, rows: Sequence[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        """``rows`` as the ``COPY`` takes them (the row's literals filled in)."""
        if all(isinstance(f, int) for f in self.fill) and len(self.fill) == self.width:
            return iter(rows)
        return (tuple(r[f] if isinstance(f, int) else f for f in self.fill) for r in rows)

    def fits(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Whether ``rows`` may go as one statement (else: row by row)."""
        for i in self.untyped:
            typed = False
            for r in rows:
                value = r[i]
                if isinstance(value, str):
                    return False
                typed = typed or value is not None
            if not typed:
                return False
        if self.key and not self.in_rounds:
            keys = {tuple(r[i] for i in self.key) for r in rows}
            return len(keys) == len(rows)
        return True

    def text(self, n: int) -> str:
        """The statement for ``n`` rows."""
        return _text(self, n)


@functools.lru_cache(maxsize=1024)
def _text(batched: Batched, n: int) -> str:
    return f"{batched.head}{', '.join([batched.row] * n)}{batched.tail}"


def rounds(rows: Sequence[Sequence[Any]], key: Sequence[int]) -> list[list[Sequence[Any]]]:
    """``rows`` in rounds holding each key at most once; a key's rows in their order, one
    a round (the first round holds every key's first row, and so on)."""
    out: list[list[Sequence[Any]]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for r in rows:
        k = tuple(r[i] for i in key)
        n = seen.get(k, 0)
        seen[k] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(r)
    return out


@functools.lru_cache(maxsize=256)
def batched(statement: str) -> Batched | None:
    """``statement`` (neutral markers) as a whole-batch statement, or None when it is not
    of a shape rewritten here."""
    if "?" not in statement:
        return None
    statement = _squeezed(statement)
    head = statement[:6].upper()
    if head == "INSERT":
        return _insert(statement)
    if head == "UPDATE":
        return _update(statement)
    if head == "DELETE":
        return _delete(statement)
    return None


def _insert(statement: str) -> Batched | None:
    found = _INSERT.match(statement)
    if found is None:
        return None
    columns, rest = found.group(2), found.group(3)
    end = _closing(rest, 0)
    if end is None:
        return None
    row, tail = rest[: end + 1], rest[end + 1 :]
    if "?" in tail or re.search(r"\bRETURNING\b", tail, re.I):
        return None
    width = row.count("?")
    key: tuple[int, ...] = ()
    conflict = _CONFLICT.match(tail)
    if conflict is not None:
        # An upsert: the conflict key's parameters, found through the row's items.
        names = [c.strip() for c in columns.split(",")]
        items = _split(row[1:-1], ",")
        if items is None or len(items) != len(names):
            return None
        position, at = {}, 0
        for name, item in zip(names, items, strict=True):
            if item.strip() == "?":
                position[name] = at
            at += item.count("?")
        try:
            key = tuple(position[c.strip()] for c in conflict.group(1).split(","))
        except KeyError:
            return None
    elif re.search(r"\bDO\s+UPDATE\b", tail, re.I):
        return None  # ON CONFLICT ON CONSTRAINT …: no key columns to keep apart
    text = statement[: len(statement) - len(rest)]
    copy, fill = None, ()
    if not tail.strip():
        fill = _fill(row)
        if fill is not None:
            copy = f"COPY {found.group(1)} ({columns.strip()}) FROM STDIN"
    return Batched(text, row, tail, width, key, in_rounds=bool(key), copy=copy, fill=fill or ())


def _fill(row: str) -> tuple[int | str, ...] | None:
    """A row's items as ``COPY`` values: a parameter's position or a plain string
    literal; None when an item is anything else (an expression, a cast)."""
    items = _split(row[1:-1], ",")
    if items is None:
        return None
    fill: list[int | str] = []
    at = 0
    for item in items:
        item = item.strip()
        if item == "?":
            fill.append(at)
            at += 1
        elif _LITERAL.fullmatch(item):
            fill.append(item[1:-1])
        else:
            return None
    return tuple(fill)


def _update(statement: str) -> Batched | None:
    found = _UPDATE.match(statement)
    if found is None or _OTHER.search(statement):
        return None
    table, changes, where = found.groups()
    items = _split(changes, ",")
    if items is None:
        return None
    assigned = set()
    typed: dict[int, str] = {}
    at = 0
    for item in items:
        assign = _ASSIGN.match(item)
        if assign is None:
            return None
        name, value = assign.groups()
        assigned.add(name)
        if value.strip() == "?":
            typed[at] = name
        at += value.count("?")
    conjuncts = _conjuncts(where)
    if conjuncts is None:
        return None
    key: list[int] = []
    for c in conjuncts:
        equals = _EQUALS_PARAM.match(c)
        if equals is not None and equals.group(1) not in assigned:
            typed[at] = equals.group(1)
            key.append(at)
        at += c.count("?")
    if not key:
        return None
    return _joined(f"UPDATE {table} SET ", changes, " FROM (VALUES ", where, table, at, typed, key)


def _delete(statement: str) -> Batched | None:
    found = _DELETE.match(statement)
    if found is None:
        return None
    table, where = found.groups()
    if _OTHER.search(where):
        return None
    conjuncts = _conjuncts(where)
    if conjuncts is None:
        return None
    typed: dict[int, str] = {}
    key: list[int] = []
    at = 0
    for c in conjuncts:
        equals = _EQUALS_PARAM.match(c)
        if equals is not None:
            typed[at] = equals.group(1)
            key.append(at)
        at += c.count("?")
    if not key:
        return None
    # Deleting is the same whichever row comes first, and twice is once: no key check.
    joined = _joined(f"DELETE FROM {table}", "", " USING (VALUES ", where, table, at, typed, key)
    return dataclasses.replace(joined, key=())


def _joined(
    start: str,
    changes: str,
    values: str,
    where: str,
    table: str,
    width: int,
    typed: dict[int, str],
    key: list[int],
) -> Batched:
    names = iter(f"{_P}.p{i}" for i in range(width))
    changes = re.sub(r"\?", lambda _: next(names), changes)
    where = re.sub(r"\?", lambda _: next(names), where)
    first = ", ".join(f"(NULL::{table}).{typed[i]}" if i in typed else "NULL" for i in range(width))
    columns = ", ".join(f"p{i}" for i in range(width))
    return Batched(
        f"{start}{changes}{values}({first}), ",
        f"({', '.join(['?'] * width)})",
        f") AS {_P} ({columns}) WHERE {where}",
        width,
        tuple(key),
        untyped=tuple(i for i in range(width) if i not in typed),
    )


def _squeezed(text: str) -> str:
    """``text`` with each run of white space outside string literals as one space."""
    parts = text.split("'")
    parts[::2] = [re.sub(r"\s+", " ", p) for p in parts[::2]]
    return "'".join(parts).strip()


def _conjuncts(where: str) -> list[str] | None:
    """The ``AND``-ed terms of ``where``; None when an ``OR`` joins terms at the top (a
    row's key would then not be all that picks its target rows)."""
    ors = _split(where, " OR ")
    if ors is None or len(ors) > 1:
        return None
    return _split(where, " AND ")


def _closing(text: str, start: int) -> int | None:
    """The index of the parenthesis closing the one at ``start``."""
    depth = 0
    quoted = False
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def _split(text: str, sep: str) -> list[str] | None:
    """``text`` split at ``sep`` outside parentheses and string literals (``sep`` matched
    without regard to case); None when its parentheses or quotes do not balance."""
    parts: list[str] = []
    depth, quoted, last, i = 0, False, 0, 0
    upper, sep = text.upper(), sep.upper()
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    return None
            elif depth == 0 and upper.startswith(sep, i):
                parts.append(text[last:i])
                i += len(sep)
                last = i
                continue
        i += 1
    if depth or quoted:
        return None
    parts.append(text[last:])
    return parts

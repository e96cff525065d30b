"""Reading CSV and JSON Lines files from a byte offset, one row at a time.

The reader knows nothing of the schema: it turns bytes into dictionaries of column values
and reports where each row ends, so that a checkpoint can point just past it. Line numbers
are only needed for error reports, so the number of lines before the start offset is
counted lazily, the first time one is asked for.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ._config import FileFormat

#: Read size when counting the lines before a start offset.
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that did not become a record: where it is and which rule it broke.

    Never holds the row's values, which may be personal data.

    :param stream: the stream being read.
    :param path: the file, as matched by the stream's ``path``.
    :param line: the 1-based line the row starts on.
    :param field: the canonical field (dotted), the column, or ``(line)``/``(row)``/
        ``(header)`` for a problem with the row as a whole.
    :param rule: what the value must satisfy.
    :param column: the source column the value came from, when it differs from ``field``.
    """

    stream: str
    path: str
    line: int
    field: str
    rule: str
    column: str | None = None

    def __str__(self) -> str:
        where = f" (column {self.column!r})" if self.column and self.column != self.field else ""
        return f"{self.path}, line {self.line}: {self.field}{where}: {self.rule}"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read. ``values`` is ``None`` for a row with a ``problem`` and for a
    blank line (no problem either), which only moves the offset on."""

    rel_line: int
    end: int
    values: dict[str, Any] | None = None
    problem: tuple[str, str] | None = None


class FileReader:
    """Rows of one file from byte offset ``start``.

    :param start: where the previous read stopped; ``0`` for a new file. For CSV it may
        lie anywhere at or after the header, which is always read from the top.
    """

    def __init__(self, path: str, fmt: FileFormat, start: int, delimiter: str = ",") -> None:
        self.path = path
        self.format = fmt
        self.start = start
        self.delimiter = delimiter
        self._base_line: int | None = 0 if start == 0 else None

    def line_number(self, rel_line: int) -> int:
        """The 1-based line number in the file of the ``rel_line``-th line read."""
        if self._base_line is None:
            self._base_line = _count_newlines(self.path, self.start)
        return self._base_line + rel_line

    def rows(self) -> Iterator[RawRow]:
        """Every row from the start offset to the end of the file as it is now."""
        with open(self.path, "rb") as f:
            if self.format == "csv":
                yield from self._csv_rows(f)
            else:
                yield from self._jsonl_rows(f)

    def _jsonl_rows(self, f: BinaryIO) -> Iterator[RawRow]:
        f.seek(self.start)
        offset = self.start
        rel = 0
        while raw := f.readline():
            rel += 1
            end = offset + len(raw)
            complete = raw.endswith(b"\n")
            try:
                text = raw.decode("utf-8-sig" if offset == 0 else "utf-8")
            except UnicodeDecodeError:
                if not complete:
                    return  # a writer is still in the middle of a character
                yield RawRow(rel, end, problem=("(line)", "is not valid UTF-8"))
                offset = end
                continue
            text = text.strip()
            if not text:
                yield RawRow(rel, end)
                offset = end
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                if not complete:
                    # An object is complete only once it closes, so an unterminated
                    # line that does not parse is still being written: leave it for
                    # the next read rather than report half a row.
                    return
                # The decoder's message names the position, never the text.
                yield RawRow(
                    rel,
                    end,
                    problem=("(line)", f"is not valid JSON: {exc.msg} at column {exc.colno}"),
                )
                offset = end
                continue
            if isinstance(value, dict):
                yield RawRow(rel, end, values=value)
            else:
                yield RawRow(rel, end, problem=("(line)", "must be a JSON object"))
            offset = end

    def _csv_rows(self, f: BinaryIO) -> Iterator[RawRow]:
        lines = _LineSource(f, 0)
        reader = csv.reader(lines, delimiter=self.delimiter)
        header_base, self._base_line = self._base_line, 0  # the header is line 1
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(1, self.start, problem=("(header)", f"is not valid CSV: {exc}"))
            return
        if not lines.complete:
            return  # the header is still being written
        header = [name.strip() for name in header]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            # Column names are not personal data, so naming them is safe. The offset
            # stays put: no row of this file can be read until the header is fixed.
            rule = f"column {duplicates[0]!r} appears more than once"
            yield RawRow(1, self.start, problem=("(header)", rule))
            return
        if self.start <= lines.offset:
            # Carry on after the header; lines are counted from the top of the file.
            self._base_line = 0
        else:
            self._base_line = header_base
            f.seek(self.start)
            lines = _LineSource(f, self.start)
            reader = csv.reader(lines, delimiter=self.delimiter)
        before = lines.lines
        while True:
            lines.bad_encoding = False
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The csv module's messages describe the syntax, not the data.
                yield RawRow(
                    before + 1, lines.offset, problem=("(row)", f"is not valid CSV: {exc}")
                )
                before = lines.lines
                continue
            rel = before + 1
            before = lines.lines
            if lines.bad_encoding:
                yield RawRow(rel, lines.offset, problem=("(row)", "is not valid UTF-8"))
            elif not fields:
                yield RawRow(rel, lines.offset)
            elif len(fields) > len(header):
                rule = f"has {len(fields)} values but the header has {len(header)} columns"
                yield RawRow(rel, lines.offset, problem=("(row)", rule))
            else:
                yield RawRow(rel, lines.offset, values=dict(zip(header, fields, strict=False)))


class _LineSource:
    """Decoded lines of a binary file for ``csv.reader``, keeping count of bytes and lines.

    ``csv.reader`` pulls one line at a time and returns a record as soon as the line that
    ends it has been read, so after each record ``offset`` is exactly where it ends.
    """

    def __init__(self, f: BinaryIO, offset: int) -> None:
        self._f = f
        self.offset = offset
        self.lines = 0
        self.complete = True
        self.bad_encoding = False

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        raw = self._f.readline()
        if not raw:
            raise StopIteration
        at_start = self.offset == 0
        self.offset += len(raw)
        self.lines += 1
        self.complete = raw.endswith(b"\n")
        try:
            return raw.decode("utf-8-sig" if at_start else "utf-8")
        except UnicodeDecodeError:
            # Raising here would break the csv reader's state; flag the record instead.
            self.bad_encoding = True
            return raw.decode("utf-8", errors="replace")


def _count_newlines(path: str, end: int) -> int:
    count = 0
    with open(path, "rb") as f:
        remaining = end
        while remaining > 0:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count

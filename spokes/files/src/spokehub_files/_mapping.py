"""Turning one row of column values into a :class:`~spokehub_contracts.SourceRecord`.

Pure logic, no I/O. A row that breaks the schema raises :class:`RowInvalid` listing every
problem as ``(field, rule, column)``; the messages come from the schema's rules and never
quote the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from spokehub_contracts import (
    Event,
    Identifier,
    SourceRecord,
    ValidationFailed,
    normalize_identifier,
)

from ._config import (
    CATCH_ALL_BY_KIND,
    MODEL_BY_KIND,
    PERSON_KINDS,
    RecordModel,
    StreamConfig,
    top_level_fields,
)

#: Prefixes pydantic puts before the text of a validator's ``ValueError``.
_MESSAGE_PREFIXES = ("Value error, ", "Assertion failed, ")

Problem = tuple[str, str, str | None]


@runtime_checkable
class _ErrorList(Protocol):
    """The part of pydantic's ``ValidationError`` read here (the spoke imports only the
    contracts, so it names the error by what it offers)."""

    def errors(
        self, *, include_url: bool, include_context: bool, include_input: bool
    ) -> list[Any]: ...


class RowInvalid(Exception):
    """A row cannot become a record. ``problems`` holds ``(field, rule, column)`` triples,
    ``column`` being the source column the value came from, if any."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {rule}" for field, rule, _ in problems))


def _absent(value: Any) -> bool:
    # An empty CSV cell and a JSON null both mean "no value here", so a constant or a
    # later column may still fill the field.
    return value is None or value == ""


def _put(data: dict[str, Any], target: str, value: Any) -> None:
    """Set dotted ``target`` in ``data``; objects already there are merged, not replaced."""
    *parents, leaf = target.split(".")
    node = data
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parents[: i + 1])
            raise RowInvalid([(where, f"is not an object, so {target} cannot be set", None)])
        node = child
    current = node.get(leaf)
    if isinstance(current, dict) and isinstance(value, dict):
        node[leaf] = {**current, **value}
    else:
        node[leaf] = value


def _json_scalar(text: str) -> Any:
    """A CSV cell as the number, boolean or JSON value it spells, else the text itself."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return text


class RowMapper:
    """Maps rows of one stream. Build once per stream; :meth:`map` is pure."""

    def __init__(self, stream: StreamConfig) -> None:
        self.stream = stream
        self.model = MODEL_BY_KIND[stream.kind]
        self._fields = top_level_fields(stream.kind)
        self._catch_all = CATCH_ALL_BY_KIND.get(stream.kind)
        self._consumed = {*stream.identifiers, *stream.ignore}
        if stream.record_id:
            self._consumed.add(stream.record_id)
        # A score file from a spreadsheet holds numbers as text; the model's ``value`` is
        # untyped, so without this a churn risk of 0.83 would reach the hub as "0.83".
        self._typed_value = stream.file_format == "csv" and stream.kind == "score"

    def map(self, values: Mapping[str, Any]) -> SourceRecord:
        """The record for ``values`` (column → value).

        :raises RowInvalid: listing every field that breaks the schema, the identifier
            columns that fail normalization, and columns that fit nowhere.
        """
        problems: list[Problem] = []
        data, origin = self._data(values, problems)
        identifiers = self._identifiers(values, problems)
        record: RecordModel | None = None
        try:
            record = self.model.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            problems.extend(self._explain(exc, origin))
        if problems or record is None:
            raise RowInvalid(problems)
        if isinstance(record, Event):
            for found in record.identifiers():
                if found not in identifiers:
                    identifiers.append(found)
        if not identifiers and self.stream.kind in PERSON_KINDS:
            columns = ", ".join(self.stream.identifiers)
            rule = f"no identifier: one of the columns {columns} needs a value"
            raise RowInvalid([("identifiers", rule, None)])
        record_id = values.get(self.stream.record_id) if self.stream.record_id else None
        return SourceRecord(
            stream=self.stream.name,
            record_id=None if _absent(record_id) else str(record_id),
            identifiers=tuple(identifiers),
            data=record,
        )

    def _data(
        self, values: Mapping[str, Any], problems: list[Problem]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The model's input built from ``values``, and which column each field came from."""
        data: dict[str, Any] = {}
        origin: dict[str, str] = {}
        for target, value in self.stream.constants.items():
            _put(data, target, value)
        mapping = self.stream.mapping
        # Columns named after a field first, explicit mappings last: when a column and a
        # mapping both aim at one field, the configured mapping wins.
        for column, value in values.items():
            if column in mapping or _absent(value):
                continue
            if column in self._fields:
                target = column
            elif column in self._consumed:
                continue
            elif self._catch_all:
                target = f"{self._catch_all}.{column}"
            else:
                rule = f"is not a field of {self.stream.kind}; map it, or list it under ignore"
                problems.append((column, rule, column))
                continue
            self._set(data, origin, target, value, column, problems)
        for column, target in mapping.items():
            value = values.get(column)
            if not _absent(value):
                self._set(data, origin, target, value, column, problems)
        if self._typed_value and isinstance(data.get("value"), str):
            data["value"] = _json_scalar(data["value"])
        return data, origin

    @staticmethod
    def _set(
        data: dict[str, Any],
        origin: dict[str, str],
        target: str,
        value: Any,
        column: str,
        problems: list[Problem],
    ) -> None:
        try:
            _put(data, target, value)
        except RowInvalid as exc:
            problems.extend((field, rule, column) for field, rule, _ in exc.problems)
            return
        origin[target] = column

    def _identifiers(self, values: Mapping[str, Any], problems: list[Problem]) -> list[Identifier]:
        found: list[Identifier] = []
        for column, type_ in self.stream.identifiers.items():
            value = values.get(column)
            if _absent(value):
                continue
            try:
                normalized = normalize_identifier(type_, value)
            except ValidationFailed as exc:
                problems.append((column, f"identifier {type_}: {exc.rule}", column))
                continue
            identifier = Identifier(type=type_, value=normalized)
            if identifier not in found:
                found.append(identifier)
        return found

    @staticmethod
    def _explain(exc: ValueError, origin: Mapping[str, str]) -> list[Problem]:
        if not isinstance(exc, _ErrorList):
            # Not a schema error: the message is ours to vouch for only by its type.
            return [("(record)", f"is not valid ({type(exc).__name__})", None)]
        problems: list[Problem] = []
        # include_input=False: the input is the raw value, which may be personal data.
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = [str(part) for part in error["loc"]]
            field = ".".join(loc) or "(record)"
            column = None
            for i in range(len(loc), 0, -1):
                column = origin.get(".".join(loc[:i]))
                if column:
                    break
            message = error["msg"]
            for prefix in _MESSAGE_PREFIXES:
                message = message.removeprefix(prefix)
            problems.append((field, message[:1].lower() + message[1:], column))
        return problems

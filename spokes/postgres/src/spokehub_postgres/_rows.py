"""Rows into records: a plan made once per read from the result's columns, applied to
every row.

The plan checks that every column the stream names exists (an error naming the column
and its role otherwise) and decides where each column goes, so the per-row work is a
few dictionary writes and the schema's own validation.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from spokehub_contracts import (
    Account,
    ConfigError,
    Identifier,
    Membership,
    Person,
    PrivacyAction,
    PrivacyRequest,
    RejectedRecord,
    ScoredTrait,
    SourceRecord,
)

from ._source_config import FIELDS, PERSON_KINDS, SourceStream

#: Types passed through untouched: most values of most rows, checked in one look-up.
_AS_IS = frozenset({str, int, float, bool, type(None), datetime, date})


def plain(value: Any) -> Any:
    """A database value as JSON-friendly Python: numbers stay numbers (a ``numeric``
    becomes an int or a float), UUIDs and bytes become text."""
    if type(value) in _AS_IS:
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, time):
        return value.isoformat()
    return value


def cursor_value(value: Any) -> Any:
    """A cursor or key value as saved in the JSON state (the database reads it back)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return plain(value)


def _key_text(values: Sequence[Any]) -> str:
    return ":".join(str(cursor_value(v)) for v in values)


@dataclass
class Plan:
    """Where each column of one result goes, for one stream."""

    stream: SourceStream
    where: str  # the table or "query", for messages
    columns: list[str]
    key: list[int]  # primary key positions
    identifiers: list[tuple[int, str, str]]  # position, column, identifier type
    fields: list[tuple[int, str]]  # position, target (dotted)
    scores: list[tuple[int, str]]  # position, score name
    model: int | None
    computed_at: int | None
    cursor: int | None
    account_id: int | None

    @classmethod
    def make(cls, stream: SourceStream, columns: Sequence[str]) -> Plan:
        where = stream.table or "the stream's query"
        index = {c: i for i, c in enumerate(columns)}

        def need(column: str, role: str) -> int:
            if column not in index:
                raise ConfigError(
                    f"streams.{stream.name}",
                    f"column {column!r} ({role}) is not in {where}; it has " + ", ".join(columns),
                )
            return index[column]

        cursor = need(stream.cursor, "cursor") if stream.cursor else None
        key = [need(c, "primary_key") for c in stream.primary_key]
        identifiers = [(need(c, "identifier"), c, t) for c, t in stream.identifiers.items()]
        for column in stream.mapping:
            need(column, "mapping")
        scores = [(need(c, "score"), stream.mapping.get(c, c)) for c in stream.scores]
        model = need(stream.model_column, "model_column") if stream.model_column else None
        computed_at = need(stream.computed_at, "computed_at") if stream.computed_at else None
        fields: list[tuple[int, str]] = []
        account_id: int | None = None
        if stream.kind != "score":
            known = FIELDS[stream.kind]
            skipped = set(stream.ignore) | set(stream.primary_key) | set(stream.identifiers)
            for i, column in enumerate(columns):
                target = stream.mapping.get(column)
                if target is None:
                    if column in skipped and column not in known:
                        continue
                    if column in stream.ignore:
                        continue
                    if column in known:
                        target = column
                    elif stream.kind in ("person", "account"):
                        target = f"attributes.{column}"
                    else:
                        continue  # a membership's other columns have nowhere to go
                fields.append((i, target))
                if target == "account_id":
                    account_id = i
            if stream.kind in ("account", "membership") and account_id is None:
                raise ConfigError(
                    f"streams.{stream.name}",
                    f"a {stream.kind} stream needs an account_id column (or a mapping to "
                    f"account_id); {where} has " + ", ".join(columns),
                )
        return cls(
            stream, where, list(columns), key, identifiers, fields, scores, model,
            computed_at, cursor, account_id,
        )  # fmt: skip

    # -- per row ---------------------------------------------------------------------

    def key_of(self, row: Sequence[Any]) -> str | None:
        return _key_text([row[i] for i in self.key]) if self.key else None

    def fingerprint(self, row: Sequence[Any]) -> str:
        """A short hash of the row's values, for diffs."""
        body = orjson.dumps([plain(v) for v in row], default=str)
        return hashlib.blake2b(body, digest_size=8).hexdigest()

    def _identifiers(self, row: Sequence[Any]) -> tuple[list[Identifier], RejectedRecord | None]:
        found: list[Identifier] = []
        for i, column, type_ in self.identifiers:
            value = row[i]
            if value is None or value == "":
                continue
            try:
                found.append(Identifier(type=type_, value=str(plain(value))))
            except ValidationError as exc:
                rule = exc.errors()[0]["msg"].removeprefix("Value error, ")
                return found, self._reject(row, column, rule)
        if not found and self.stream.kind in PERSON_KINDS:
            names = ", ".join(c for _, c, _ in self.identifiers)
            return found, self._reject(row, "(row)", f"no identifier: {names} all empty")
        return found, None

    def _reject(self, row: Sequence[Any], field: str, rule: str) -> RejectedRecord:
        key = self.key_of(row)
        return RejectedRecord(
            stream=self.stream.name,
            location=f"{self.where} {(self.stream.primary_key and 'key ' + str(key)) or 'row'}",
            field=field,
            rule=rule,
            raw={c: plain(cursor_value(v)) for c, v in zip(self.columns, row, strict=True)},
        )

    def records(self, row: Sequence[Any], now: datetime) -> list[SourceRecord | RejectedRecord]:
        """The records of one row (one per score for score streams), or its rejection."""
        identifiers, rejected = self._identifiers(row)
        if rejected is not None:
            return [rejected]
        stream = self.stream
        key = self.key_of(row)
        try:
            if stream.kind == "score":
                model = stream.model if self.model is None else str(row[self.model])
                at = row[self.computed_at] if self.computed_at is not None else now
                return [
                    SourceRecord(
                        stream=stream.name,
                        record_id=f"{key}:{name}" if key else None,
                        identifiers=tuple(identifiers),
                        data=ScoredTrait(
                            name=name, value=plain(row[i]), model=model, computed_at=at
                        ),
                        observed_at=now,
                    )
                    for i, name in self.scores
                ]
            values: dict[str, Any] = {}
            for i, target in self.fields:
                value = row[i]
                if value is None:
                    continue
                head, dot, rest = target.partition(".")
                if dot:
                    values.setdefault(head, {})[rest] = plain(value)
                elif target == "account_id":
                    values[target] = str(plain(value))
                else:
                    values[target] = plain(value)
            model_cls = {"person": Person, "account": Account, "membership": Membership}
            data = model_cls[stream.kind].model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or "(row)"
            return [self._reject(row, field, error["msg"])]
        return [
            SourceRecord(
                stream=stream.name,
                record_id=key,
                identifiers=tuple(identifiers),
                data=data,
                observed_at=now,
            )
        ]

    def remembered(self, row: Sequence[Any]) -> list[Any]:
        """What a diff keeps of a row to express its deletion later: its fingerprint,
        its identifiers, and (memberships) its account."""
        identifiers, _ = self._identifiers(row)
        entry: list[Any] = [self.fingerprint(row), [[i.type, i.value] for i in identifiers]]
        if self.account_id is not None:
            entry.append(str(plain(row[self.account_id])))
        elif self.stream.kind == "score":
            entry.append(self.stream.model if self.model is None else str(row[self.model]))
        return entry

    def deletion(self, key: str, entry: Sequence[Any], now: datetime) -> list[SourceRecord]:
        """The records saying that the row with ``key`` (remembered as ``entry``) is gone."""
        stream = self.stream
        identifiers = tuple(Identifier(type=t, value=v) for t, v in entry[1])
        if not identifiers:
            return []
        if stream.kind == "person":
            data: list[Any] = [
                PrivacyRequest(
                    action=PrivacyAction.DELETE,
                    reference=f"{stream.name}:{key}"[:256],
                    reason=f"the row left {self.where} (stream {stream.name!r})",
                    requested_at=now,
                )
            ]
        elif stream.kind == "membership":
            data = [Membership(account_id=entry[2], ended_at=now)]
        elif stream.kind == "score":
            model = str(entry[2])
            data = [
                ScoredTrait(name=name, value=None, model=model, computed_at=now)
                for _, name in self.scores
            ]
        else:
            return []
        return [
            SourceRecord(
                stream=stream.name,
                record_id=f"{key}:deleted" + (f":{d.name}" if isinstance(d, ScoredTrait) else ""),
                identifiers=identifiers,
                data=d,
                observed_at=now,
            )
            for d in data
        ]

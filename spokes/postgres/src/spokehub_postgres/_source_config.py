"""Configuration of the PostgreSQL source: a connection URL and the streams read from it.

A stream is a table (or view) or a query, with either a ``cursor`` column read
incrementally or none, in which case each run is a diff against the last one. Everything
a typo can break without a database is checked here, when the project file is validated;
that the named columns exist is checked by ``check()`` and at the start of every read.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import SecretStr

from spokehub_contracts import (
    Account,
    Membership,
    Person,
    SpokeConfig,
    ValidationFailed,
    check_identifier_type,
)

#: What a stream's rows become.
StreamKind = Literal["person", "account", "membership", "score"]

#: Fields of each kind a column may fill (besides ``attributes.*`` for people and accounts).
FIELDS: dict[str, frozenset[str]] = {
    "person": frozenset(Person.model_fields) - {"attributes", "address"},
    "account": frozenset(Account.model_fields) - {"attributes", "address"},
    "membership": frozenset(Membership.model_fields),
    "score": frozenset(),
}

#: Kinds about a person: each row needs an identifier.
PERSON_KINDS = frozenset({"person", "membership", "score"})

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_SCORE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SourceStream(SpokeConfig):
    """One stream of the PostgreSQL source.

    :param name: the stream's name, unique in the connection.
    :param table: a table or view, optionally schema-qualified (``analytics.model_scores``).
    :param query: instead of ``table``, a ``SELECT`` whose rows the stream reads (it is
        wrapped as a subquery, so it may not end with ``;``).
    :param kind: what each row becomes: ``person``, ``account``, ``membership`` or
        ``score`` (one scored trait per column in ``scores``).
    :param cursor: a column that grows with every change (``updated_at``, a sequence).
        Rows past the saved cursor are read in order, in pages, through a server-side
        cursor. Without it, every run reads the whole result and sends what changed
        since the last run; rows that are gone become deletions.
    :param primary_key: the column(s) that identify a row: its record id, the cursor's
        tie-break, and what a diff compares. Needed without a ``cursor``.
    :param identifiers: column to identifier type (``email``, ``user_id``,
        ``crm:customer_id``).
    :param mapping: column to field of the kind (``first_name``, ``address.city``,
        ``attributes.tier``; for a score, its name). A column named like a field needs no
        entry; other columns of people and accounts go under ``attributes``.
    :param ignore: columns left out of the record.
    :param scores: for ``score`` streams: the columns that are model outputs.
    :param model: for ``score`` streams: the model's name, or ``model_column``.
    :param model_column: the column naming the model of each row.
    :param computed_at: the column with the time the scores were computed (default: the
        time of the read).
    :param deletions: whether a row that disappears (diff streams) becomes a deletion:
        a person's erasure request, a membership's end, a score cleared. Accounts have no
        deletion in the contracts; their streams must leave this off.
    :param allow_empty: let a diff stream whose rows all disappeared delete them all
        (off by default: an emptied table is more often an accident than an intent).
    :param page_size: rows per fetch and per checkpoint.
    """

    name: str
    table: str | None = None
    query: str | None = None
    kind: StreamKind
    cursor: str | None = None
    primary_key: list[str] = []
    identifiers: dict[str, str] = {}
    mapping: dict[str, str] = {}
    ignore: list[str] = []
    scores: list[str] = []
    model: str | None = None
    model_column: str | None = None
    computed_at: str | None = None
    deletions: bool | None = None
    allow_empty: bool = False
    page_size: int = 2000

    def model_post_init(self, context: Any, /) -> None:
        if not self.name:
            raise ValueError("name: must not be empty")
        if (self.table is None) == (self.query is None):
            raise ValueError("set exactly one of table and query")
        if self.table is not None and not _TABLE.match(self.table):
            raise ValueError(f"table: {self.table!r} is not a table name (schema.table)")
        if self.query is not None and self.query.rstrip().endswith(";"):
            raise ValueError("query: leave out the trailing ';' (it is read as a subquery)")
        if self.cursor is None and not self.primary_key:
            raise ValueError(
                "primary_key: a stream without a cursor is read as a diff against the "
                "last run and needs the column(s) that identify a row"
            )
        if self.page_size <= 0:
            raise ValueError("page_size: must be a positive number of rows")
        if self.kind in PERSON_KINDS and not self.identifiers:
            raise ValueError(
                f"identifiers: a {self.kind} stream needs at least one identifier column, "
                "e.g. {email: email}"
            )
        for column, type_ in self.identifiers.items():
            try:
                check_identifier_type(type_)
            except ValidationFailed as exc:
                raise ValueError(f"identifiers.{column}: {exc.rule}") from None
        if self.kind == "score":
            if not self.scores:
                raise ValueError("scores: a score stream needs at least one score column")
            if (self.model is None) == (self.model_column is None):
                raise ValueError("model: set the model's name, or model_column")
            for column in self.scores:
                name = self.mapping.get(column, column)
                if not _SCORE_NAME.match(name):
                    raise ValueError(
                        f"scores: {name!r} is not a score name (lower case, digits, _); "
                        "rename it in mapping"
                    )
        else:
            fields = FIELDS[self.kind]
            free = self.kind in ("person", "account")
            for column, target in self.mapping.items():
                head, _, rest = target.partition(".")
                if head == "attributes" and free and rest:
                    continue
                if head == "address" and free and rest:
                    continue
                if target not in fields:
                    raise ValueError(
                        f"mapping.{column}: {target!r} is not a field of {self.kind}; use "
                        f"one of {', '.join(sorted(fields))}"
                        + (" or attributes.NAME" if free else "")
                    )
        if self.kind == "account" and self.deletions:
            raise ValueError(
                "deletions: an account that disappears has no deletion in the hub's "
                "contracts; leave deletions off for account streams"
            )

    @property
    def deletes(self) -> bool:
        """Whether vanished rows become deletions (the kind's default when unset)."""
        if self.deletions is not None:
            return self.deletions
        return self.kind != "account"


class PostgresSourceConfig(SpokeConfig):
    """Configuration of the PostgreSQL source.

    :param url: the database, as a libpq URL (``postgresql://user:pass@host/db``); usually
        ``${WAREHOUSE_URL}`` in the project file.
    :param streams: what to read, at least one stream; names are unique.
    """

    url: SecretStr
    streams: list[SourceStream]

    def model_post_init(self, context: Any, /) -> None:
        if not self.streams:
            raise ValueError("streams: configure at least one stream")
        seen: set[str] = set()
        for stream in self.streams:
            if stream.name in seen:
                raise ValueError(f"streams: stream name {stream.name!r} is used twice")
            seen.add(stream.name)

    def stream(self, name: str) -> SourceStream:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)

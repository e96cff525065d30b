"""Configuration models of the files source and the files destination.

Everything a typo can break is checked here, when the project file is validated, rather
than row by row at read time: stream names, formats, mapping targets and identifier types.
"""

from __future__ import annotations

from functools import cache
from pathlib import PurePath
from typing import Any, Literal

from spokehub_contracts import (
    Account,
    Address,
    Consent,
    Event,
    Membership,
    Person,
    RecordKind,
    ScoredTrait,
    SpokeConfig,
    ValidationFailed,
    check_identifier_type,
)

FileFormat = Literal["csv", "jsonl"]

#: File extensions a stream's format is inferred from when ``format`` is not set.
FORMAT_BY_EXTENSION: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

#: The schema model of each record kind.
RecordModel = Person | Account | Membership | Consent | Event | ScoredTrait

MODEL_BY_KIND: dict[str, type[RecordModel]] = {
    "person": Person,
    "account": Account,
    "membership": Membership,
    "consent": Consent,
    "event": Event,
    "score": ScoredTrait,
}

#: Where columns that name no field of the kind end up. Kinds not listed here have a fixed
#: shape, so an unexpected column there is a row error rather than a guess.
CATCH_ALL_BY_KIND: dict[str, str] = {
    "person": "attributes",
    "account": "attributes",
    "event": "properties",
}

#: Kinds whose records are about a person and so need an identifier to be resolved.
#: Accounts carry their own ``account_id``; events carry ``userId``/``anonymousId``.
PERSON_KINDS = frozenset({"person", "membership", "consent", "score"})

#: Fields that hold free-form objects: a dotted target may go any depth below them.
_FREE_OBJECTS = frozenset({"attributes", "properties", "traits", "context", "integrations"})


@cache
def top_level_fields(kind: str) -> frozenset[str]:
    """The field names (and wire aliases, for events) a record of ``kind`` accepts."""
    names: set[str] = set()
    for name, info in MODEL_BY_KIND[kind].model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
    return frozenset(names)


def check_target(kind: str, target: str) -> str:
    """Return ``target`` if it names a canonical field of ``kind``.

    A target is a field name, dotted for nested values: ``address.city`` (one of the
    address fields) or ``attributes.loyalty_tier`` (any depth below a free-form object).

    :raises ValueError: naming the target and what would be accepted.
    """
    head, dot, rest = target.partition(".")
    fields = top_level_fields(kind)
    if head not in fields:
        raise ValueError(
            f"{target!r} is not a field of {kind}; use one of {', '.join(sorted(fields))}"
        )
    if not dot:
        return target
    if head == "address":
        if rest not in Address.model_fields:
            raise ValueError(
                f"{target!r} is not an address field; use one of "
                + ", ".join(f"address.{f}" for f in Address.model_fields)
            )
        return target
    if head not in _FREE_OBJECTS or any(not part for part in rest.split(".")):
        raise ValueError(
            f"{target!r}: only address and {', '.join(sorted(_FREE_OBJECTS & fields))} "
            "have nested fields, and no part of a dotted name may be empty"
        )
    return target


class StreamConfig(SpokeConfig):
    """One stream: the files it reads, their format, and how a row becomes a record.

    :param name: the stream's name, unique in the connection (``customers``, ``orders``).
    :param path: a file, or a glob pattern (``data/orders-*.jsonl``, ``**`` allowed).
        Relative paths are resolved against the working directory at read time.
    :param format: ``csv`` or ``jsonl``; inferred from the extension (``.csv``, ``.jsonl``,
        ``.ndjson``) when left out, see :attr:`file_format`.
    :param kind: the record kind every row becomes.
    :param mapping: source column (JSONL: top-level key) to canonical field, dotted for
        nested fields (``address.city``, ``properties.total``). A column whose name already
        is a field name needs no entry.
    :param identifiers: source column to identifier type (``email``, ``phone``,
        ``user_id``, ``anonymous_id`` or a namespaced ``system:key``).
    :param record_id: the column holding the source's own id of the row, if any.
    :param constants: canonical field to a value set on every record (an event's
        ``type``, a consent's ``source``); a non-empty column value for the same field wins.
    :param ignore: columns deliberately left out of the record.
    :param delimiter: the CSV field separator, one character.
    """

    # Plain defaults rather than pydantic's Field(): the spoke depends on the contracts
    # alone, and pydantic copies mutable defaults for every instance anyway.
    name: str
    path: str
    format: FileFormat | None = None
    kind: RecordKind
    mapping: dict[str, str] = {}
    identifiers: dict[str, str] = {}
    record_id: str | None = None
    constants: dict[str, Any] = {}
    ignore: list[str] = []
    delimiter: str = ","

    @property
    def file_format(self) -> FileFormat:
        """``format``, or the one the extension of ``path`` implies."""
        if self.format is not None:
            return self.format
        return FORMAT_BY_EXTENSION.get(PurePath(self.path).suffix.lower(), "csv")

    def model_post_init(self, context: Any, /) -> None:
        # Raised here, a ValueError becomes a validation error at this stream's location,
        # so `spokehub config validate` points at the right entry.
        for field in ("name", "path"):
            if not getattr(self, field):
                raise ValueError(f"{field}: must not be empty")
        if self.format is None and PurePath(self.path).suffix.lower() not in FORMAT_BY_EXTENSION:
            raise ValueError(
                "format: cannot be inferred from the file extension; set format to csv or jsonl"
            )
        if len(self.delimiter) != 1:
            raise ValueError("delimiter: must be exactly one character")
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
        for column, target in self.mapping.items():
            try:
                check_target(self.kind, target)
            except ValueError as exc:
                raise ValueError(f"mapping.{column}: {exc}") from None
        for target in self.constants:
            try:
                check_target(self.kind, target)
            except ValueError as exc:
                raise ValueError(f"constants: {exc}") from None


class FilesSourceConfig(SpokeConfig):
    """Configuration of the files source.

    :param streams: the streams this connection offers, at least one; names are unique.
    :param checkpoint_every: yield a checkpoint after this many records (and at the end
        of every file); a positive number.
    """

    streams: list[StreamConfig]
    checkpoint_every: int = 500

    def model_post_init(self, context: Any, /) -> None:
        if not self.streams:
            raise ValueError("streams: configure at least one stream")
        if self.checkpoint_every <= 0:
            raise ValueError("checkpoint_every: must be a positive number of records")
        seen: set[str] = set()
        for stream in self.streams:
            if stream.name in seen:
                raise ValueError(f"streams: stream name {stream.name!r} is used twice")
            seen.add(stream.name)


class FilesDestinationConfig(SpokeConfig):
    """Configuration of the files destination.

    :param path: the JSON Lines file changes are appended to; missing parent directories
        are created. Relative paths are resolved against the working directory.
    """

    path: str

    def model_post_init(self, context: Any, /) -> None:
        if not self.path:
            raise ValueError("path: must not be empty")

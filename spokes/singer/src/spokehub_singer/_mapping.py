"""The declared mapping of a bridged stream, and turning one of its records into a
:class:`~spokehub_contracts.SourceRecord`.

A tap or an Airbyte source knows nothing of persons and events: its streams hold rows.
Each stream the connection reads is declared with the record kind its rows become and
which of their fields are identifiers (the e-mail, the phone, the connector's own id), so
identity, the data contract and consent apply to bridged data like to any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from spokehub_contracts import (
    Account,
    Event,
    Identifier,
    Person,
    RejectedRecord,
    SourceRecord,
    SpokeConfig,
    ValidationFailed,
    check_identifier_type,
    normalize_identifier,
)

BridgedKind = Literal["person", "account", "event"]

_MODELS: dict[str, type[Person] | type[Account] | type[Event]] = {
    "person": Person,
    "account": Account,
    "event": Event,
}
#: Where fields that name nothing of the kind end up.
_CATCH_ALL = {"person": "attributes", "account": "attributes", "event": "properties"}
#: Fields the protocols' own tooling adds to every record (Singer SDK, Airbyte).
_META_PREFIXES = ("_sdc_", "_airbyte_", "_ab_")
#: Event fields that hold ids: a connector's integer id becomes their text.
_ID_FIELDS = frozenset({"userId", "user_id", "anonymousId", "anonymous_id", "messageId", "groupId"})


def _fields(kind: str) -> frozenset[str]:
    names: set[str] = set()
    for name, info in _MODELS[kind].model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
    return frozenset(names)


class StreamMapping(SpokeConfig):
    """How the rows of one stream become records.

    :param kind: ``person``, ``account`` or ``event`` (an event's ``type`` and name come
        from ``constants``: ``{type: track, event: Order Completed}``).
    :param identifiers: field to identifier type (``email``, ``phone``, ``user_id`` or a
        namespaced ``system:key`` such as ``faker:user_id``).
    :param record_id: the field holding the row's id; by default the stream's key
        property as the connector declares it (Singer ``key_properties``, Airbyte
        primary key). Rows read again after a crash are recognised by it.
    :param mapping: field to canonical field, dotted for nested ones
        (``address.city``, ``properties.total``). A field named like a canonical field
        needs no entry; any other goes to ``attributes`` (``properties`` for events).
    :param constants: canonical field to a value set on every record.
    :param ignore: fields left out of the record.
    """

    kind: BridgedKind
    identifiers: dict[str, str] = {}
    record_id: str | None = None
    mapping: dict[str, str] = {}
    constants: dict[str, Any] = {}
    ignore: list[str] = []

    def model_post_init(self, context: Any, /) -> None:
        if self.kind == "person" and not self.identifiers:
            raise ValueError(
                "identifiers: a person stream needs at least one identifier field, "
                "e.g. {email: email}"
            )
        for field, type_ in self.identifiers.items():
            try:
                check_identifier_type(type_)
            except ValidationFailed as exc:
                raise ValueError(f"identifiers.{field}: {exc.rule}") from None
        known = _fields(self.kind)
        for field, target in {**self.mapping, **{t: t for t in self.constants}}.items():
            if target.split(".", 1)[0] not in known:
                raise ValueError(
                    f"mapping.{field}: {target!r} is not a field of {self.kind}; use one of "
                    + ", ".join(sorted(known))
                )


class RecordMapper:
    """Maps the rows of one stream; :meth:`map` is pure."""

    def __init__(self, stream: str, spec: StreamMapping, key: Sequence[str] = ()) -> None:
        self.stream = stream
        self.spec = spec
        self.model = _MODELS[spec.kind]
        self._fields = _fields(spec.kind)
        self._key = [spec.record_id] if spec.record_id else list(key)
        self._skip = {*spec.ignore, *spec.identifiers, *spec.mapping}

    def record_id(self, row: Mapping[str, Any]) -> str | None:
        """The row's id from its key fields, ``None`` if it has none."""
        if not self._key:
            return None
        parts = [row.get(field) for field in self._key]
        if any(part is None or part == "" for part in parts):
            return None
        return ":".join(str(part) for part in parts)

    def map(self, row: Mapping[str, Any], location: str) -> SourceRecord | RejectedRecord:
        """The record for ``row``, or a rejection naming the field and the rule (never
        the value)."""
        data: dict[str, Any] = {}
        for target, value in self.spec.constants.items():
            _put(data, target, value)
        for field, value in row.items():
            if value is None or field in self._skip or field.startswith(_META_PREFIXES):
                continue
            target = field if field in self._fields else f"{_CATCH_ALL[self.spec.kind]}.{field}"
            _put(data, target, value)
        for field, target in self.spec.mapping.items():
            if row.get(field) is not None:
                _put(data, target, row[field])
        if self.spec.kind == "event":
            for name in _ID_FIELDS & data.keys():
                if isinstance(data[name], int | float):
                    data[name] = str(data[name])
        identifiers: list[Identifier] = []
        for field, type_ in self.spec.identifiers.items():
            value = row.get(field)
            if value is None or value == "":
                continue
            try:
                normalized = normalize_identifier(type_, str(value))
            except ValidationFailed as exc:
                return self._reject(location, field, f"identifier {type_}: {exc.rule}", row)
            identifiers.append(Identifier(type=type_, value=normalized))
        try:
            record = self.model.model_validate(data)
        except ValueError as exc:
            field, rule = _first_error(exc)
            return self._reject(location, field, rule, row)
        if isinstance(record, Event):
            identifiers.extend(i for i in record.identifiers() if i not in identifiers)
        if self.spec.kind == "person" and not identifiers:
            fields = ", ".join(self.spec.identifiers)
            return self._reject(location, "identifiers", f"no identifier: one of {fields}", row)
        return SourceRecord(
            stream=self.stream,
            record_id=self.record_id(row),
            identifiers=tuple(identifiers),
            data=record,
        )

    def _reject(
        self, location: str, field: str, rule: str, row: Mapping[str, Any]
    ) -> RejectedRecord:
        return RejectedRecord(
            stream=self.stream, location=location, field=field, rule=rule, raw=dict(row)
        )


def _put(data: dict[str, Any], target: str, value: Any) -> None:
    *parents, leaf = target.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


def _first_error(exc: ValueError) -> tuple[str, str]:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return "(record)", f"is not valid ({type(exc).__name__})"
    # include_input=False: the input is the raw value, which may be personal data.
    first = errors(include_url=False, include_input=False, include_context=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or "(record)"
    message = str(first["msg"]).removeprefix("Value error, ")
    return field, message[:1].lower() + message[1:]

"""From an inbox row to a validated :class:`SourceRecord`.

Segment messages (inbox kind ``event``) become records of kind ``event`` whose identifiers
are the message's own (:meth:`Event.identifiers`); pulled and webhook records (kind
``record``) are read back as they were written. Identify and group traits are checked
against the canonical :class:`Person` and :class:`Account` here, so a trait of the wrong
type is quarantined with its field instead of reaching a profile.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from spokehub_contracts import Account, Event, EventType, Person, SourceRecord

from .violations import RecordRejected, from_validation_error

#: ``to_record``'s marker for "the body has not been read yet".
UNPARSED: Any = object()
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
#: Segment's reserved person traits, by their wire names, mapped to the canonical fields.
PERSON_FIELDS = frozenset(Person.model_fields) - {"attributes"}
ACCOUNT_FIELDS = frozenset(Account.model_fields) - {"attributes", "account_id"}


def snake(name: str) -> str:
    """``firstName`` → ``first_name``; snake_case names are kept."""
    return _CAMEL.sub("_", name).lower() if not name.islower() else name


def to_record(kind: str, body: str, received_at: datetime, parsed: Any = UNPARSED) -> SourceRecord:
    """Parse and validate one inbox row (``parsed``: ``body`` already read as JSON, which
    this function may consume).

    :raises RecordRejected: with the field and rule, when the row breaks the contract.
    """
    if parsed is UNPARSED:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RecordRejected("validate", "(record)", "not valid JSON") from None
    data = parsed
    if kind == "record":
        try:
            record = SourceRecord.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error("validate", exc) from None
        _in_utc_range("observed_at", record.observed_at)
        return record
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error("validate", exc) from None
    _in_utc_range("timestamp", event.timestamp)
    _in_utc_range("sentAt", event.sent_at)
    _in_utc_range("receivedAt", event.received_at)
    if event.type is EventType.IDENTIFY:
        person_from_traits(identify_traits(event))
    elif event.type is EventType.GROUP:
        account_from_traits(event.group_id or "", event.traits)
    observed = event.timestamp or event.received_at or received_at
    if observed.tzinfo is None:
        observed = observed.replace(tzinfo=UTC)
    # Every part is validated already (the event, its identifiers, the moment): building
    # the record validates none of it again.
    return SourceRecord.trusted(
        event.type.value, event.message_id, tuple(event.identifiers()), event, observed
    )


#: The rule a moment breaks that has no UTC equivalent the store can hold.
UTC_RANGE_RULE = "must be a moment between the years 1 and 9999 in UTC"


def _in_utc_range(field: str, moment: datetime | None) -> None:
    # 0001-01-01T00:00:00+05:00 parses, but its UTC equivalent is before the year 1: it
    # would fail where it is stored, after the batch had begun its writes.
    if moment is None or moment.tzinfo is None or 1 < moment.year < 9999:
        return
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise RecordRejected("validate", field, UTC_RANGE_RULE) from None


def identify_traits(event: Event) -> dict[str, Any]:
    """An identify call's traits: top-level ``traits``, else ``context.traits`` (where
    RudderStack's clients put them)."""
    traits = event.traits or event.context.get("traits")
    return traits if isinstance(traits, dict) else {}


def split_traits(traits: dict[str, Any], reserved: frozenset[str]) -> dict[str, Any]:
    """Segment traits as canonical fields: reserved ones snake_cased, the rest under
    ``attributes``."""
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in traits.items():
        name = snake(key)
        if name in reserved:
            if name == "address" and isinstance(value, dict):
                value = {snake(k): v for k, v in value.items()}
            fields[name] = value
        else:
            attributes[key] = value
    if attributes:
        fields["attributes"] = attributes
    return fields


def person_from_traits(traits: dict[str, Any]) -> Person:
    """Identify traits as a :class:`Person`.

    :raises RecordRejected: ``contract`` stage, naming the trait (``traits.age``).
    """
    try:
        return Person.model_validate(split_traits(traits, PERSON_FIELDS))
    except ValidationError as exc:
        raise from_validation_error("contract", exc, "traits") from None


def account_from_traits(group_id: str, traits: dict[str, Any]) -> Account:
    """Group traits as an :class:`Account` keyed by ``groupId``."""
    try:
        return Account.model_validate(
            {**split_traits(traits, ACCOUNT_FIELDS), "account_id": group_id}
        )
    except ValidationError as exc:
        raise from_validation_error("contract", exc, "traits") from None


def person_traits(person: Person) -> dict[str, Any]:
    """The flat trait mapping stored on a profile: set canonical fields plus attributes."""
    out = person.model_dump(mode="json", exclude_none=True, exclude={"attributes"})
    out.update(person.attributes)
    return out


def person_from_profile(traits: dict[str, Any]) -> Person:
    """A :class:`Person` from a profile's flat traits; values the schema refuses are kept
    under ``attributes`` so a destination still sees them."""
    fields = {k: v for k, v in traits.items() if k in PERSON_FIELDS}
    attributes = {k: v for k, v in traits.items() if k not in PERSON_FIELDS}
    try:
        return Person.model_validate({**fields, "attributes": attributes})
    except ValidationError:
        return Person(attributes=dict(traits))


def utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment

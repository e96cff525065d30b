"""What the store and the pipeline can hold, checked at the edge on every accepted message,
so that what is acknowledged can be processed on either backend.

- **NUL** (U+0000) is refused anywhere in a message, in a value or a key, with 400 naming
  the field: PostgreSQL's ``text`` and ``jsonb`` cannot hold it, so a message that
  carries one would be acknowledged and then fail in the pipeline there. SQLite could
  store it, but both backends answer alike. (Nothing is stripped: a changed value would
  be a silent loss.) Lone surrogates, the other characters PostgreSQL refuses, never get
  this far: the JSON parsers refuse them.
- **Timestamps** the pipeline reads (``timestamp``, ``sentAt``, ``originalTimestamp``:
  those :class:`~spokehub_contracts.Event` reads as date-times) must have a UTC
  equivalent: ``0001-01-01T00:00:00+05:00`` parses, but falls before the year 1 in UTC
  and cannot be stored.

The check looks at the request's body first, then at each message's: JSON writes NUL as
``\\u0000``, and only a year 0001 or 9999 can fall outside the range, so a request with
neither costs three substring searches. Only the rare message that has one is parsed
again to name the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from spokehub_contracts import SEGMENT_SPEC, SegmentFieldType

from .errors import IngestError
from .messages import BATCH_KINDS, Accepted

#: How JSON writes NUL (an escaped backslash followed by ``u0000`` matches too, and only
#: costs a closer look).
_NUL = b"\\u0000"
#: A string value starting with a year that an offset can push out of range.
_EDGE_YEARS = (b'"0001-', b'"9999-')
#: The message fields the pipeline reads as moments (received at is the hub's own).
TIMESTAMP_FIELDS = tuple(
    f.name
    for f in SEGMENT_SPEC.of_type(SegmentFieldType.TIMESTAMP)
    if f.attribute is not None and f.name != SEGMENT_SPEC.received_at
)

NUL_RULE = "must not contain NUL (\\u0000)"
UTC_RANGE_RULE = "must be a moment between the years 1 and 9999 in UTC"

_MOMENT = TypeAdapter(datetime)


def check_storable(kind: str, accepted: Sequence[Accepted], request_body: bytes) -> None:
    """Refuse a request with a message the store could not hold (see the module).

    :param kind: the endpoint, to name a message of a batch (``batch[3].userId``).
    :param request_body: the request's JSON (inflated): when it holds neither NUL nor an
        edge year, no message does, and the messages are not looked at one by one.
    :raises IngestError: 400 naming the first such field and its rule.
    """
    # JSON can write NUL in no other way. A year written with escapes ("\u0030001-")
    # slips past; the pipeline quarantines such a timestamp, naming it.
    if not _holds_escaped_nul(request_body) and not any(y in request_body for y in _EDGE_YEARS):
        return
    for index, message in enumerate(accepted):
        body = message.body
        if not _holds_escaped_nul(body) and not any(year in body for year in _EDGE_YEARS):
            continue
        found = unstorable(orjson.loads(body))
        if found is not None:
            name, rule = found
            where = f"batch[{index}].{name}" if kind in BATCH_KINDS else name
            raise IngestError(400, "invalid_field", f"{where}: {rule}")


def unstorable(msg: dict[str, Any]) -> tuple[str, str] | None:
    """The first field of a parsed message the store could not hold, and the rule it
    breaks; ``None`` when there is none."""
    for name, value in msg.items():
        if "\x00" in name:
            return "(a field name)", NUL_RULE
        if _holds_nul(value):
            return name, NUL_RULE
    for name in TIMESTAMP_FIELDS:
        value = msg.get(name)
        if type(value) is str and not _in_utc_range(value):
            return name, UTC_RANGE_RULE
    return None


def _holds_escaped_nul(body: bytes) -> bool:
    # A single byte is found at memchr's speed, and most bodies hold no escape at all.
    return b"\\" in body and _NUL in body


def _holds_nul(value: Any) -> bool:
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if type(value) is list:
        return any(_holds_nul(v) for v in value)
    return False


def _in_utc_range(text: str) -> bool:
    # Read as the pipeline reads it; what it cannot read at all is the pipeline's to
    # quarantine, with its own rule.
    if not text.startswith(("0001-", "9999-")):
        return True
    try:
        moment = _MOMENT.validate_python(text)
    except ValidationError:
        return True
    if moment.tzinfo is None:  # read as UTC
        return True
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True

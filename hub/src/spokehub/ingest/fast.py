"""The fast path: a well-formed batch read through msgspec structs derived from the
Segment message spec, each message stored as the client sent it with ``receivedAt`` added.

It decides nothing of its own. A message passes here only when the full path
(:func:`~spokehub.ingest.check_messages`) would accept it unchanged (bar ``receivedAt``):
every rule of :data:`~spokehub_contracts.SEGMENT_SPEC` is checked as the full path checks
it, and anything it cannot settle cheaply (a numeric ID, a missing ``messageId``, a value
of the wrong type, many brackets) sends the whole request to the full path, which names
the problem or normalizes the value. A property test holds the two paths to the same rows.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any

import msgspec
import orjson

from spokehub_contracts import SegmentField, SegmentFieldType

from .limits import IngestSettings
from .messages import BATCH_KINDS, Accepted
from .rules import OBJECT_OR_NULL, SPEC, fast_keys

#: An object field's JSON when the field is absent.
_ABSENT = msgspec.Raw()


def _struct_field(spec: SegmentField, *, unread: tuple[str, ...]) -> tuple[str, Any, Any]:
    # Strings typed, so that decoding refuses what the full path refuses or changes (a
    # number, a string over the limit); objects, and fields the full path replaces or
    # drops, kept as their JSON: only their first byte, or their presence, is looked at.
    if spec.type is SegmentFieldType.OBJECT or spec.name in unread:
        return (spec.name, msgspec.Raw, _ABSENT)
    text: Any = str
    if spec.max_length is not None:
        text = Annotated[str, msgspec.Meta(max_length=spec.max_length)]
    return (spec.name, text | None, None)


# Not tracked by the collector: a request allocates one struct per message and nothing
# else. What no rule reads (unknown fields) is only validated as JSON.
_Message = msgspec.defstruct(
    "_Message",
    [
        ("type", str | None, None),
        *(_struct_field(f, unread=(SPEC.received_at, SPEC.write_key)) for f in SPEC.fields),
    ],
    gc=False,
)
# The envelope: each message as its bytes in the request body, decoded once more below
# and stored as it came; the fields beside the batch typed as the spec declares them.
_Envelope = msgspec.defstruct(
    "_Envelope",
    [
        (SPEC.batch, list[msgspec.Raw] | None, None),
        *(_struct_field(f, unread=()) for f in SPEC.envelope),
    ],
    gc=False,
)
_ENVELOPE = msgspec.json.Decoder(_Envelope)
_MESSAGE = msgspec.json.Decoder(_Message)

_batch_of = attrgetter(SPEC.batch)
_write_key_of = attrgetter(SPEC.write_key)
_envelope_objects = tuple(
    attrgetter(f.name) for f in SPEC.checked_envelope if f.type is SegmentFieldType.OBJECT
)

#: Every digit as ``0``: an integer orjson would refuse as out of range (over 1.8e308, as
#: Python's ``json`` writes a big ``int``) shows as a long run of zeros.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 300
_MAX_DEPTH = SPEC.max_depth


def read_batch(
    kind: str, body: bytes, received_at: str, settings: IngestSettings
) -> tuple[str | None, list[Accepted]] | None:
    """A batch request whose messages the full path would accept as they are: the
    ``writeKey`` in its body (:func:`~spokehub.ingest.write_key_in_body`) and the accepted
    messages, each message's body its own bytes from the request with ``receivedAt``
    added; or ``None`` when the request needs :func:`~spokehub.ingest.parse_json` and
    :func:`~spokehub.ingest.check_messages` (anything else: not a batch, JSON the full
    path might read differently, a message with a problem, or one that must be changed
    beyond adding ``receivedAt``).
    """
    if kind not in BATCH_KINDS:
        return None
    # What passes here is what orjson (the full path) accepts, but for one case no JSON
    # encoder writes: a number with an exponent beyond 1.8e308 in a field no check reads,
    # which the pipeline quarantines as not valid JSON. msgspec checks the syntax, escapes
    # and nesting of what it skips, but neither its UTF-8 nor the size of its integers:
    # both are checked on the whole body first (false alarms only cost the full path).
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return None
    if _LONG_NUMBER in body.translate(_DIGITS):
        return None
    try:
        envelope = _ENVELOPE.decode(body)
        raws = _batch_of(envelope)
        if not raws:
            return None
        for object_of in _envelope_objects:
            raw = object_of(envelope)
            if raw and memoryview(raw)[0] not in OBJECT_OR_NULL:
                return None
        messages = [_MESSAGE.decode(raw) for raw in raws]
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    suffix = b',"' + SPEC.received_at.encode() + b'":' + orjson.dumps(received_at) + b"}"
    # The stored body is the message as sent (an object: ``}`` is its last byte) with one
    # more member; encoding each message again would cost more than its checks.
    max_sent = settings.max_event_bytes - len(suffix) + 1
    out: list[Accepted] = []
    append = out.append
    for msg, raw in zip(messages, raws, strict=True):
        keys = fast_keys(msg)
        if keys is None:
            return None
        sent = bytes(raw)
        if len(sent) > max_sent:
            return None
        # surely_shallow(), written out: it runs once per message.
        brackets = sent.count(b"{")
        if brackets > _MAX_DEPTH or (
            sent.find(b"[") >= 0 and brackets + sent.count(b"[") > _MAX_DEPTH
        ):
            return None
        append(Accepted(keys[0], keys[1], sent[:-1] + suffix))
    return _write_key_of(envelope) or None, out

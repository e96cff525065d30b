"""Segment-compatible request shapes: which messages a request holds, and cheap checks.

Ingestion checks only what it must to answer truthfully (the shape of each message, the
presence of an identity, sizes); full contract validation happens in the pipeline, which
quarantines a violation with its field and rule rather than losing it.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from typing import Any, NamedTuple

import msgspec
import orjson

from .errors import IngestError
from .limits import IngestSettings

#: The Segment call types, which are also the single-message endpoints.
CALL_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
#: Endpoints that carry ``{"batch": [...]}``.
BATCH_KINDS = frozenset({"batch", "import"})

_ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId")
_TEXT_FIELDS = ("event", "name", "timestamp", "sentAt", "originalTimestamp", "receivedAt")
_OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
#: The field each call type cannot do without.
REQUIRED_BY_TYPE = {"track": "event", "group": "groupId", "alias": "previousId"}


class Accepted(NamedTuple):
    """One message ready for the inbox: its serialized body and keys (a named tuple: the
    hot path builds one per event)."""

    message_id: str
    partition_key: str | None
    body: bytes


def write_key_in_body(payload: Any) -> str | None:
    """The ``writeKey`` Segment clients may put in the body instead of the header."""
    if isinstance(payload, dict):
        key = payload.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return None


def split_messages(kind: str, payload: Any) -> list[tuple[str, Any]]:
    """The messages of a request, each with the path that names it in errors.

    :param kind: the endpoint: one of :data:`CALL_TYPES` or :data:`BATCH_KINDS`.
    """
    if not isinstance(payload, dict):
        raise IngestError(400, "invalid_shape", "body must be a JSON object")
    if kind in BATCH_KINDS:
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise IngestError(400, "invalid_shape", "batch: must be an array of messages")
        if not batch:
            raise IngestError(400, "invalid_shape", "batch: must not be empty")
        return [(f"batch[{i}]", msg) for i, msg in enumerate(batch)]
    given = payload.get("type")
    if given is not None and given != kind:
        raise IngestError(400, "invalid_type", f"type: must be {kind!r} on /v1/{kind}")
    return [("", {**payload, "type": kind})]


class _Envelope(msgspec.Struct, gc=False):
    # Each message as its bytes in the request body: decoded once more below, it is
    # stored as it came. The rest of the envelope is only validated as JSON.
    batch: list[msgspec.Raw] | None = None
    writeKey: str | None = None


#: An object field's JSON when the field is absent.
_ABSENT = msgspec.Raw()
_OBJECT_OR_NULL = frozenset(b"{n")


class _Message(msgspec.Struct, gc=False):
    # What :func:`_keys` looks at, typed so that decoding refuses what it refuses; what
    # no check reads (properties, traits, ...) is only validated as JSON. Not tracked by
    # the collector: a request allocates one per message and nothing else.
    type: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    groupId: str | None = None
    previousId: str | None = None
    messageId: str | None = None
    event: str | None = None
    name: str | None = None
    timestamp: str | None = None
    sentAt: str | None = None
    originalTimestamp: str | None = None
    properties: msgspec.Raw = _ABSENT
    traits: msgspec.Raw = _ABSENT
    context: msgspec.Raw = _ABSENT
    integrations: msgspec.Raw = _ABSENT
    # Present, either must be changed: the message takes the full path.
    receivedAt: msgspec.Raw = _ABSENT
    writeKey: msgspec.Raw = _ABSENT


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_MESSAGE = msgspec.json.Decoder(_Message)
#: Every digit as ``0``: an integer orjson would refuse as out of range (over 1.8e308, as
#: Python's ``json`` writes a big ``int``) shows as a long run of zeros.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 300


def read_batch(
    kind: str, body: bytes, received_at: str, settings: IngestSettings
) -> tuple[str | None, list[Accepted]] | None:
    """A batch request whose messages all pass :func:`check_message` as they are: the
    ``writeKey`` in its body (:func:`write_key_in_body`) and the accepted messages, each
    message's body its own bytes from the request with ``receivedAt`` added; or ``None``
    when the request needs :func:`~spokehub.ingest.parse_json` and :func:`check_messages`
    (anything else: not a batch, JSON the full path might read differently, a message
    with a problem, or one that must be changed beyond adding ``receivedAt``).
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
        raws = envelope.batch
        if not raws:
            return None
        messages = [_MESSAGE.decode(raw) for raw in raws]
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    max_bytes = settings.max_event_bytes
    suffix = b',"receivedAt":' + orjson.dumps(received_at) + b"}"
    out: list[Accepted] = []
    append = out.append
    for msg, raw in zip(messages, raws, strict=True):
        keys = _message_keys(msg)
        if keys is None:
            return None
        # The stored body is the message as sent (an object: ``}`` is its last byte) with
        # one more member; encoding each message again would cost more than its checks.
        stored = bytes(raw)[:-1] + suffix
        if len(stored) > max_bytes:
            return None
        append(Accepted(keys[0], keys[1], stored))
    return envelope.writeKey or None, out


def _message_keys(msg: _Message) -> tuple[str, str] | None:
    # :func:`_keys` on a decoded message (its types already checked by the decoder).
    type_ = msg.type
    if type_ not in CALL_TYPES:
        return None
    for raw in (msg.properties, msg.traits, msg.context, msg.integrations):
        # An object or null: JSON values that start with either byte are nothing else.
        if raw and memoryview(raw)[0] not in _OBJECT_OR_NULL:
            return None
    if msg.receivedAt or msg.writeKey:
        return None
    required = REQUIRED_BY_TYPE.get(type_)
    if required and not getattr(msg, required):
        return None
    message_id = msg.messageId
    if not message_id or len(message_id) > 256 or "\x00" in message_id:
        return None
    if msg.userId:
        return message_id, _digest_cached("u:" + msg.userId)
    if msg.anonymousId:
        return message_id, _digest_cached("a:" + msg.anonymousId)
    return None


def check_messages(
    kind: str, payload: Any, received_at: str, settings: IngestSettings
) -> list[Accepted]:
    """Every message of a request, checked: :func:`split_messages` then
    :func:`check_message` on each, without naming a message unless it has a problem.

    :raises IngestError: for the first message that breaks a rule, naming it.
    """
    batch = payload.get("batch") if kind in BATCH_KINDS and type(payload) is dict else None
    if type(batch) is not list or not batch:
        return [
            check_message(where, msg, received_at, settings)
            for where, msg in split_messages(kind, payload)
        ]
    max_bytes = settings.max_event_bytes
    out: list[Accepted] = []
    append = out.append
    for msg in batch:
        accepted = _check_common(msg, received_at, max_bytes) if type(msg) is dict else None
        if accepted is None:
            accepted = _check_message(f"batch[{len(out)}]", msg, received_at, settings)
        append(accepted)
    return out


def check_message(where: str, msg: Any, received_at: str, settings: IngestSettings) -> Accepted:
    """Check one message's shape and size; fill ``messageId`` and ``receivedAt``.

    :raises IngestError: naming the field (``batch[2].userId``) and the rule broken.
    """
    if type(msg) is dict:
        accepted = _check_common(msg, received_at, settings.max_event_bytes)
        if accepted is not None:
            return accepted
    return _check_message(where, msg, received_at, settings)


def _check_common(msg: dict[str, Any], received_at: str, max_bytes: int) -> Accepted | None:
    keys = _keys(msg)
    if keys is None:
        return None
    msg["receivedAt"] = received_at
    msg.pop("writeKey", None)
    try:
        body = orjson.dumps(msg)
    except orjson.JSONEncodeError:  # nested too deep: the full path says so
        return None
    if len(body) > max_bytes:
        return None
    return Accepted(keys[0], keys[1], body)


def _keys(msg: dict[str, Any]) -> tuple[str, str] | None:
    # The hot path: a well-formed message with string IDs and a given messageId, checked
    # with the fewest lookups; its messageId and partition key. Anything else (a mistake,
    # a numeric ID, a missing messageId) takes the full path, which names the problem or
    # normalizes the value.
    get = msg.get
    type_ = get("type")
    if type(type_) is not str or type_ not in CALL_TYPES:
        return None
    for name in _ID_FIELDS:
        value = get(name)
        if value is not None and type(value) is not str:
            return None
    for name in _TEXT_FIELDS:
        value = get(name)
        if value is not None and type(value) is not str:
            return None
    for name in _OBJECT_FIELDS:
        value = get(name)
        if value is not None and type(value) is not dict:
            return None
    required = REQUIRED_BY_TYPE.get(type_)
    if required and not get(required):
        return None
    message_id = get("messageId")
    if type(message_id) is not str or not message_id or len(message_id) > 256:
        return None
    if "\x00" in message_id:
        return None
    user_id = get("userId")
    if user_id:
        key = _digest_cached("u:" + user_id)
    else:
        anonymous_id = get("anonymousId")
        if not anonymous_id:
            return None
        key = _digest_cached("a:" + anonymous_id)
    return message_id, key


def _check_message(where: str, msg: Any, received_at: str, settings: IngestSettings) -> Accepted:

    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(msg, dict):
        raise IngestError(400, "invalid_shape", f"{where or 'body'}: must be a JSON object")
    type_ = msg.get("type")
    if type(type_) is not str or type_ not in CALL_TYPES:
        allowed = ", ".join(sorted(CALL_TYPES))
        raise IngestError(400, "invalid_type", f"{field('type')}: must be one of {allowed}")
    for name in _ID_FIELDS:
        value = msg.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            raise IngestError(400, "invalid_field", f"{field(name)}: must be a string")
    if msg.get("userId") in (None, "") and msg.get("anonymousId") in (None, ""):
        raise IngestError(
            400, "missing_identity", f"{where or 'body'}: userId or anonymousId is required"
        )
    for name in _TEXT_FIELDS:
        value = msg.get(name)
        if value is not None and not isinstance(value, str):
            raise IngestError(400, "invalid_field", f"{field(name)}: must be a string")
    for name in _OBJECT_FIELDS:
        value = msg.get(name)
        if value is not None and not isinstance(value, dict):
            raise IngestError(400, "invalid_field", f"{field(name)}: must be an object")
    required = REQUIRED_BY_TYPE.get(type_)
    if required and msg.get(required) in (None, ""):
        raise IngestError(
            400, "invalid_field", f"{field(required)}: is required for a {type_} call"
        )

    message_id = msg.get("messageId")
    if message_id is None or message_id == "":
        message_id = str(uuid.uuid4())
    elif isinstance(message_id, int | float) and not isinstance(message_id, bool):
        message_id = str(message_id)
    elif not isinstance(message_id, str):
        raise IngestError(400, "invalid_field", f"{field('messageId')}: must be a string")
    if len(message_id) > 256:
        raise IngestError(400, "invalid_field", f"{field('messageId')}: at most 256 characters")
    if "\x00" in message_id:
        # PostgreSQL text cannot hold NUL; refuse it on every backend alike.
        raise IngestError(400, "invalid_field", f"{field('messageId')}: must not contain NUL")
    msg = {**msg, "messageId": message_id, "receivedAt": received_at}
    msg.pop("writeKey", None)
    try:
        body = orjson.dumps(msg)
    except orjson.JSONEncodeError:
        # orjson writes at most 254 levels of objects and arrays.
        raise IngestError(
            400, "too_deep", f"{where or 'body'}: nests objects and arrays too deep"
        ) from None
    if len(body) > settings.max_event_bytes:
        raise IngestError(
            413,
            "event_too_large",
            f"{where or 'body'}: message exceeds {settings.max_event_bytes} bytes",
        )
    return Accepted(message_id, partition_key(msg), body)


def partition_key(msg: dict[str, Any]) -> str | None:
    """The key that keeps one person's messages in order across pipeline workers.

    The user ID when there is one, else the anonymous ID. Stored as a short digest, so the
    inbox index holds no identifier values.
    """
    ident = msg.get("userId")
    prefix = "u"
    if ident in (None, ""):
        ident, prefix = msg.get("anonymousId"), "a"
    if ident in (None, ""):
        return None
    return digest(f"{prefix}:{ident}")


def digest(text: str) -> str:
    """A short, stable digest of ``text`` (not reversible to the identifier)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()


#: The same people send again and again; their partition keys are worth remembering.
_digest_cached = functools.lru_cache(maxsize=65536)(digest)


def record_message_id(record: Any) -> str:
    """The ``messageId`` of a pulled or pushed record: its stream and a digest of its
    content. When it was observed is left out, so the same content read or delivered
    again is a duplicate, while a change to the record is a new message."""
    content = record.model_dump_json(exclude={"observed_at"})
    return f"{record.stream}:{digest(content)}"

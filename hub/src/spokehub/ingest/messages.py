"""Segment-compatible requests: which messages a request holds, checked against the
Segment message spec (:data:`~spokehub_contracts.SEGMENT_SPEC`), and ready for the inbox.

This is the full path: it reads any request, names the field and the rule a message
breaks, and normalizes what Segment clients send loosely (a numeric ID, a missing
``messageId``). A well-formed batch usually takes the fast path instead
(:mod:`spokehub.ingest.fast`), derived from the same spec, which stores exactly what this
path would. Ingestion checks what the spec declares (types, lengths, an identity, the
field a call type needs, sizes, depth); the pipeline reads timestamps and validates the
data contract, quarantining a violation with its field and rule rather than losing it.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

import orjson

from .errors import IngestError
from .keys import IDENTITY_KEYS, cached_digest
from .limits import IngestSettings
from .rules import (
    CALL_TYPES,
    REQUIRED_BY_TYPE,
    SPEC,
    Refusal,
    check_envelope,
    check_fields,
    deeper_than,
    surely_shallow,
)

#: Endpoints that carry ``{"batch": [...]}``.
BATCH_KINDS = frozenset({"batch", "import"})


class Accepted(NamedTuple):
    """One message ready for the inbox: its serialized body and keys (a named tuple: the
    hot path builds one per event)."""

    message_id: str
    partition_key: str | None
    body: bytes


def write_key_in_body(payload: Any) -> str | None:
    """The ``writeKey`` Segment clients may put in the body instead of the header."""
    if isinstance(payload, dict):
        key = payload.get(SPEC.write_key)
        if isinstance(key, str) and key:
            return key
    return None


def split_messages(kind: str, payload: Any) -> list[tuple[str, Any]]:
    """The messages of a request, each with the path that names it in errors.

    :param kind: the endpoint: one of :data:`CALL_TYPES` or :data:`BATCH_KINDS`.
    :raises IngestError: when the request is not an object, its batch not a non-empty
        array, or a field beside the batch breaks its rule.
    """
    messages = _messages(kind, payload)
    if kind in BATCH_KINDS:
        return [(f"batch[{i}]", msg) for i, msg in enumerate(messages)]
    return [("", msg) for msg in messages]


def _messages(kind: str, payload: Any) -> list[Any]:
    if not isinstance(payload, dict):
        raise IngestError(400, "invalid_shape", "body must be a JSON object")
    if kind in BATCH_KINDS:
        batch = payload.get(SPEC.batch)
        if not isinstance(batch, list):
            raise IngestError(400, "invalid_shape", "batch: must be an array of messages")
        if not batch:
            raise IngestError(400, "invalid_shape", "batch: must not be empty")
        try:
            check_envelope(payload)
        except Refusal as refusal:
            raise _named(refusal, "") from None
        return batch
    given = payload.get("type")
    if given is not None and given != kind:
        raise IngestError(400, "invalid_type", f"type: must be {kind!r} on /v1/{kind}")
    return [{**payload, "type": kind}]


def check_messages(
    kind: str, payload: Any, received_at: str, settings: IngestSettings
) -> list[Accepted]:
    """Every message of a request, checked: :func:`split_messages` then
    :func:`check_message` on each, without naming a message unless it has a problem.

    :raises IngestError: for the first message that breaks a rule, naming it.
    """
    messages = _messages(kind, payload)
    max_bytes = settings.max_event_bytes
    out: list[Accepted] = []
    append = out.append
    try:
        for msg in messages:
            append(_accept(msg, received_at, max_bytes))
    except Refusal as refusal:
        where = f"batch[{len(out)}]" if kind in BATCH_KINDS else ""
        raise _named(refusal, where) from None
    return out


def check_message(where: str, msg: Any, received_at: str, settings: IngestSettings) -> Accepted:
    """Check one message against the spec; fill ``messageId`` and ``receivedAt``, drop
    ``writeKey`` (in ``msg`` itself: the stored body is ``msg`` as it is then).

    :param where: the message's place in the request (``batch[2]``), ``""`` for a single
        call; errors name the field from it.
    :raises IngestError: naming the field (``batch[2].userId``) and the rule broken.
    """
    try:
        return _accept(msg, received_at, settings.max_event_bytes)
    except Refusal as refusal:
        raise _named(refusal, where) from None


def _named(refusal: Refusal, where: str) -> IngestError:
    # The refusal as the client reads it: ``batch[2].userId: must be a string``;
    # ``batch[2]: ...`` for the message as a whole, ``body: ...`` for a single call.
    status, code, name, rule = refusal.args
    place = where or "body"
    if name is not None:
        place = f"{where}.{name}" if where else name
    return IngestError(status, code, f"{place}: {rule}")


_MESSAGE_ID = SPEC.message_id
_RECEIVED_AT = SPEC.received_at
_WRITE_KEY = SPEC.write_key


def _accept(msg: Any, received_at: str, max_bytes: int) -> Accepted:
    # The spec's rules in the spec's order; the first one broken is raised.
    if type(msg) is not dict:
        raise Refusal(400, "invalid_shape", None, "must be a JSON object")
    get = msg.get
    type_ = get("type")
    if type(type_) is not str or type_ not in CALL_TYPES:
        raise Refusal(400, "invalid_type", "type", SPEC.type_rule)
    check_fields(msg)
    key = None
    for name, prefix in IDENTITY_KEYS:
        value = get(name)
        if value is not None and value != "":
            key = cached_digest(prefix + str(value))
            break
    else:
        raise Refusal(400, "missing_identity", None, SPEC.identity_rule)
    required = REQUIRED_BY_TYPE.get(type_)
    if required is not None and get(required) in (None, ""):
        raise Refusal(400, "invalid_field", required, SPEC.required_rule(type_))

    message_id = get(_MESSAGE_ID)
    if message_id is None or message_id == "":
        message_id = str(uuid.uuid4())
    elif type(message_id) is not str:
        message_id = str(message_id)
    # Changed in place (the message is the request's own parse), in the same order as a
    # copy would be: a new member last, a replaced one where it was.
    msg[_MESSAGE_ID] = message_id
    msg[_RECEIVED_AT] = received_at
    msg.pop(_WRITE_KEY, None)
    try:
        body = orjson.dumps(msg)
    except orjson.JSONEncodeError:
        # orjson refuses to nest deeper than 254 levels, far more than the spec allows.
        if deeper_than(msg):
            raise Refusal(400, "too_deep", None, SPEC.depth_rule) from None
        raise
    if len(body) > max_bytes:
        raise Refusal(413, "event_too_large", None, SPEC.size_rule)
    if not surely_shallow(body) and deeper_than(msg):
        raise Refusal(400, "too_deep", None, SPEC.depth_rule)
    return Accepted(message_id, key, body)

"""The Segment message spec's rules, written out as Python from the spec.

:data:`~spokehub_contracts.SEGMENT_SPEC` declares each field's type, length limit and
whether it may hold NUL; ingestion checks every field of every message. Measured, a loop
over the declarations cost the full path a fifth more CPU per message and the fast
path's own checks two fifths more, so (as :mod:`dataclasses` writes ``__init__``) the
checks are generated once, at import, as one plain statement per rule in the spec's
order, with the spec's names, limits and rule texts as constants. The source of each
generated function is kept in its ``__source__``.

- :func:`check_fields` and :func:`check_envelope`: the full path's field rules on parsed
  JSON, raising :class:`Refusal` for the first one broken;
- :func:`fast_keys`: the fast path's rules on a message decoded by msgspec, whose strings'
  types and lengths the decoder has already checked (see :mod:`spokehub.ingest.fast`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spokehub_contracts import SEGMENT_SPEC, SegmentField, SegmentFieldType

from .keys import IDENTITY_KEYS, cached_digest

SPEC = SEGMENT_SPEC
#: The Segment call types, which are also the single-message endpoints.
CALL_TYPES = frozenset(str(t) for t in SPEC.call_types)
#: The field each call type cannot do without.
REQUIRED_BY_TYPE = {str(t): name for t, name in SPEC.required_by_type.items()}
#: First bytes of a JSON object or ``null``: no other JSON value starts with either.
OBJECT_OR_NULL = frozenset(b"{n")


def surely_shallow(body: bytes) -> bool:
    """Whether a message's JSON surely nests no deeper than the spec allows: every level
    opens a bracket, so few brackets settle it. ``False`` means only that the nesting must
    be measured."""
    brackets = body.count(b"{")
    # Most messages hold no array, and a search (memchr) costs less than a count.
    if body.find(b"[") >= 0:
        brackets += body.count(b"[")
    return brackets <= SPEC.max_depth


def deeper_than(value: Any, levels: int = SPEC.max_depth) -> bool:
    """Whether parsed JSON ``value`` nests objects and arrays more than ``levels`` deep."""
    if type(value) is dict:
        children: Any = value.values()
    elif type(value) is list:
        children = value
    else:
        return False
    return levels <= 0 or any(deeper_than(child, levels - 1) for child in children)


class Refusal(Exception):
    """A rule a message breaks, before the message is named.

    ``args`` are (HTTP status, code, the field's name or ``None`` for the message as a
    whole, the rule).
    """


def _refuse(f: SegmentField, rule: str) -> str:
    return f"raise Refusal(400, 'invalid_field', {f.name!r}, {rule!r})"


def _json_field(f: SegmentField) -> list[str]:
    # One field of parsed JSON: its type, then its length and NUL, as the spec declares.
    lines = [f"value = get({f.name!r})"]
    if f.type is SegmentFieldType.OBJECT:
        return [
            *lines,
            "if value is not None and type(value) is not dict:",
            f"    {_refuse(f, f.type_rule)}",
        ]
    text: list[str] = []
    if f.max_length is not None:
        text += [f"if len(value) > {f.max_length}:", f"    {_refuse(f, f.length_rule)}"]
    if not f.nul_allowed:
        text += ["if '\\x00' in value:", f"    {_refuse(f, f.nul_rule)}"]
    if f.type is SegmentFieldType.ID:
        # A number is an ID too (read as its text): no length or NUL to check.
        return [
            *lines,
            "if value is not None:",
            "    if type(value) is str:",
            *(f"        {line}" for line in text or ["pass"]),
            "    elif type(value) is not int and type(value) is not float:",
            f"        {_refuse(f, f.type_rule)}",
        ]
    return [
        *lines,
        "if value is not None:",
        "    if type(value) is not str:",
        f"        {_refuse(f, f.type_rule)}",
        *(f"    {line}" for line in text),
    ]


def _compile(name: str, signature: str, body: list[str], namespace: dict[str, Any]) -> Any:
    source = "\n".join([f"def {name}({signature}):", *(f"    {line}" for line in body)])
    scope = dict(namespace)
    exec(compile(source, f"<segment spec: {name}>", "exec"), scope)
    function = scope[name]
    function.__source__ = source
    return function


def _field_checker(name: str, fields: tuple[SegmentField, ...]) -> Callable[[dict[str, Any]], None]:
    body = ["get = msg.get"]
    for f in fields:
        body += _json_field(f)
    return _compile(name, "msg", body, {"Refusal": Refusal})


#: ``check_fields(msg)``: every checked field of a parsed message against its type, length
#: and NUL rules, in the spec's order. :raises Refusal: for the first rule broken.
check_fields = _field_checker("check_fields", SPEC.checked)
#: ``check_envelope(payload)``: the same for the fields beside a batch request's messages.
check_envelope = _field_checker("check_envelope", SPEC.checked_envelope)


def _fast_keys() -> Callable[[Any], tuple[str, str] | None]:
    for f in SPEC.fields:
        # Read as attributes of the decoded struct, whose fields are the wire names.
        if not f.name.isidentifier():
            raise ValueError(f"{f.name!r}: the fast path needs field names that are names")
    body = ["type_ = msg.type", "if type_ not in CALL_TYPES:", "    return None"]
    for f in SPEC.of_type(SegmentFieldType.OBJECT):
        # Kept as its JSON: an object or null, as its first byte tells.
        body += [
            f"raw = msg.{f.name}",
            "if raw and memoryview(raw)[0] not in OBJECT_OR_NULL:",
            "    return None",
        ]
    # Present, either must be changed (replaced, dropped): the message takes the full path.
    body += [f"if msg.{SPEC.received_at} or msg.{SPEC.write_key}:", "    return None"]
    body += [
        "required = REQUIRED_BY_TYPE.get(type_)",
        "if required is not None and not getattr(msg, required):",
        "    return None",
    ]
    for f in SPEC.checked:
        if not f.nul_allowed:
            body += [f"value = msg.{f.name}", "if value and '\\x00' in value:", "    return None"]
    # Made up when absent: the full path does that.
    body += [f"message_id = msg.{SPEC.message_id}", "if not message_id:", "    return None"]
    for name, prefix in IDENTITY_KEYS:
        body += [
            f"ident = msg.{name}",
            "if ident:",
            f"    return message_id, cached_digest({prefix!r} + ident)",
        ]
    body.append("return None")
    namespace = {
        "CALL_TYPES": CALL_TYPES,
        "OBJECT_OR_NULL": OBJECT_OR_NULL,
        "REQUIRED_BY_TYPE": REQUIRED_BY_TYPE,
        "cached_digest": cached_digest,
    }
    return _compile("fast_keys", "msg", body, namespace)


#: ``fast_keys(msg)``: a message decoded by the fast path's struct, checked against the
#: rules its decoder does not check; its ``messageId`` and partition key, or ``None``
#: when the full path must read it (it breaks a rule, or must be changed).
fast_keys = _fast_keys()

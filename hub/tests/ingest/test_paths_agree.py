"""The fast path and the full path store the same rows for the same request, and the
ingestion API and :class:`~spokehub_contracts.Event` agree on every rule of the spec.

Requests are generated from the Segment message spec: every field with values of its type
(in and beyond its limits), of every other JSON type, ``null`` or absent; unknown fields,
nesting around the depth limit, odd envelopes and non-objects in a batch; batches and
single calls; bodies written compactly, with whitespace and escapes, or with a repeated
member. The fast path never refuses: it stores a request or hands it to the full path,
so a refusal is always the full path's, and whatever the fast path stores the full path
would have stored too (rows compared as the JSON they hold: the fast path keeps the
client's own text).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from spokehub.ingest import (
    BATCH_KINDS,
    CALL_TYPES,
    IngestError,
    IngestSettings,
    check_message,
    check_messages,
    parse_json,
    read_batch,
    write_key_in_body,
)
from spokehub_contracts import SEGMENT_SPEC, Event, SegmentField, SegmentFieldType

SPEC = SEGMENT_SPEC
RECEIVED = "2026-01-02T03:04:05.000006+00:00"
SETTINGS = IngestSettings()
PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- values ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def nested(depth: int, leaf: Any = 1, *, arrays: bool = False) -> Any:
    """A value that nests ``depth`` levels of objects (or arrays) around ``leaf``."""
    value = leaf
    for _ in range(depth):
        value = [value] if arrays else {"k": value}
    return value


# A message is one level; the spec's limit is on the message as a whole.
deep_values = st.builds(
    nested,
    st.integers(SPEC.max_depth - 3, SPEC.max_depth + 2),
    arrays=st.booleans(),
)
timestamps = st.datetimes().map(lambda moment: moment.isoformat() + "Z")


def _text(field: SegmentField) -> st.SearchStrategy[str]:
    limit = field.max_length
    texts = st.text(min_size=1, max_size=12)
    if limit is not None:
        texts |= st.sampled_from(["x" * limit, "é" * limit])
    if field.type is SegmentFieldType.TIMESTAMP:
        texts = timestamps
    return texts


def valid_values(field: SegmentField) -> st.SearchStrategy[Any]:
    """Values the field takes as they are, bar the empty string."""
    if field.type is SegmentFieldType.OBJECT:
        return st.dictionaries(st.text(max_size=4), json_values, max_size=3)
    return _text(field)


def any_values(field: SegmentField) -> st.SearchStrategy[Any]:
    """Anything: valid, normalized (a number for an ID), empty, over the limit, NUL, null,
    of another JSON type, or nested around the depth limit."""
    odd = [st.none(), st.just(""), json_values, deep_values, st.just("a\x00b")]
    if field.max_length is not None:
        odd.append(st.sampled_from(["x" * (field.max_length + 1), "é" * (field.max_length + 1)]))
    if field.type is SegmentFieldType.ID:
        odd.append(
            st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
        )
    if field.type is SegmentFieldType.OBJECT:
        odd.append(st.builds(lambda v: {"deep": v}, deep_values))
    return st.one_of(valid_values(field), *odd)


NAMES = {f.name for f in SPEC.fields} | {"type"}
extra_names = st.text(min_size=1, max_size=5).filter(lambda name: name not in NAMES)


@st.composite
def well_formed(draw: st.DrawFn, call_type: str | None = None) -> dict[str, Any]:
    """A message the fast path can store as sent: string IDs, a ``messageId``, nothing the
    hub must replace, shallow enough."""
    call_type = call_type or draw(st.sampled_from(sorted(CALL_TYPES)))
    msg: dict[str, Any] = {
        "type": call_type,
        SPEC.message_id: draw(_text(SPEC.field("messageId")).filter(lambda t: "\x00" not in t)),
    }
    identity = draw(st.lists(st.sampled_from(SPEC.identity), min_size=1, unique=True))
    for name in identity:
        msg[name] = draw(_text(SPEC.field(name)))
    required = SPEC.required_by_type.get(call_type)
    if required:
        msg[required] = draw(_text(SPEC.field(required)))
    for field in SPEC.checked:
        if field.name not in msg and draw(st.booleans()):
            msg[field.name] = draw(st.none() | valid_values(field))
    msg.update(draw(st.dictionaries(extra_names, json_values, max_size=2)))
    return msg


@st.composite
def anything(draw: st.DrawFn) -> Any:
    """A message with one to three things changed from well-formed (a field set to any
    value, a member left out, the type, a deep unknown field); now and then no object."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    msg = draw(well_formed())
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(["value", "value", "drop", "type", "deep"]))
        if change == "value":
            field = draw(st.sampled_from(SPEC.fields))
            msg[field.name] = draw(any_values(field))
        elif change == "drop":
            msg.pop(draw(st.sampled_from(sorted(msg))))
        elif change == "type":
            msg["type"] = draw(st.sampled_from(["nope", "Track", ""]) | json_values)
        else:
            msg[draw(extra_names)] = draw(deep_values)
    return msg


def envelope_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for field in SPEC.envelope:
        choice = draw(st.integers(0, 3))
        if choice == 1:
            fields[field.name] = draw(valid_values(field))
        elif choice == 2:
            fields[field.name] = draw(any_values(field))
    return fields


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, Any]:
    """An endpoint and the JSON value sent to it: half batches, half single calls."""
    if draw(st.booleans()):
        kind = draw(st.sampled_from(sorted(CALL_TYPES)))
        msg = draw(anything() | well_formed(kind))
        if isinstance(msg, dict) and msg.get("type") in sorted(CALL_TYPES):
            # The endpoint's own type, said again or implied; now and then another.
            msg["type"] = draw(st.sampled_from([kind, kind, kind, "track"]))
            if draw(st.booleans()):
                del msg["type"]
        return kind, msg
    kind = draw(st.sampled_from(sorted(BATCH_KINDS)))
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return kind, draw(json_values | st.builds(lambda v: {SPEC.batch: v}, json_values))
    batch = draw(st.lists(well_formed(), min_size=1, max_size=4))
    if shape < 7:
        batch[draw(st.integers(0, len(batch) - 1))] = draw(anything())
    return kind, {SPEC.batch: batch, **envelope_fields(draw)}


@st.composite
def encoded(draw: st.DrawFn, value: Any) -> bytes:
    """``value`` as a client might write it."""
    style = draw(st.sampled_from(["compact", "spaced", "escaped", "repeated"]))
    if style == "spaced":
        return json.dumps(value, indent=1, ensure_ascii=False).encode()
    if style == "escaped":
        return json.dumps(value, ensure_ascii=True).encode()
    body = orjson.dumps(value)
    if style == "repeated":
        # A member written twice: every reader here takes the last.
        body = re.sub(rb'\{"(type|userId|messageId)":', rb'{"\1":"shadowed","\1":', body, count=2)
    return body


# -- the paths ---------------------------------------------------------------------------


def full_path(kind: str, body: bytes) -> list[Any] | IngestError:
    try:
        return rows(check_messages(kind, parse_json(body), RECEIVED, SETTINGS))
    except IngestError as exc:
        return exc


def rows(accepted: list[Any]) -> list[tuple[str, str | None, Any]]:
    return [(a.message_id, a.partition_key, orjson.loads(a.body)) for a in accepted]


#: Where a refusal points: ``batch[2].userId: ...``, ``batch[2]: ...``, ``sentAt: ...``,
#: ``body: ...`` or ``body is not ...``.
NAMING = re.compile(r"^(batch\[\d+\](\.\w+)?|\w+)(: | is | must )\S")


@PROPERTIES
@given(data=st.data())
def test_the_fast_path_stores_what_the_full_path_would(data: st.DataObject) -> None:
    kind, value = data.draw(requests())
    body = data.draw(encoded(value))
    full = full_path(kind, body)
    if isinstance(full, IngestError):
        assert 400 <= full.status < 500
        assert NAMING.match(full.message), full.message
    fast = read_batch(kind, body, RECEIVED, SETTINGS)
    if fast is None:
        return  # the full path's answer is the answer
    assert not isinstance(full, IngestError), f"the fast path stored what is refused: {full}"
    key, accepted = fast
    assert rows(accepted) == full
    assert key == write_key_in_body(orjson.loads(body))


@PROPERTIES
@given(data=st.data())
def test_a_well_formed_batch_takes_the_fast_path(data: st.DataObject) -> None:
    batch = data.draw(st.lists(well_formed(), min_size=1, max_size=5))
    # Brackets beyond the depth limit, even side by side, send a message the full way.
    assume(all(brackets(orjson.dumps(msg)) <= SPEC.max_depth for msg in batch))
    envelope = {SPEC.batch: batch}
    if data.draw(st.booleans()):
        envelope.update({f.name: data.draw(valid_values(f)) for f in SPEC.envelope})
    body = data.draw(encoded(envelope))
    fast = read_batch("batch", body, RECEIVED, SETTINGS)
    assert fast is not None
    assert rows(fast[1]) == full_path("batch", body)


def brackets(body: bytes) -> int:
    return body.count(b"{") + body.count(b"[")


def boundary_values(field: SegmentField) -> list[Any]:
    """Every value at or just beyond one of the field's rules."""
    values: list[Any] = [None, "", "text", "a\x00b", 7, 1.5, True, [], ["x"], {}, {"k": 1}]
    values += ["2026-01-02T03:04:05Z", nested(SPEC.max_depth - 1), nested(SPEC.max_depth)]
    values += [nested(SPEC.max_depth - 1, arrays=True), nested(SPEC.max_depth, arrays=True)]
    if field.max_length is not None:
        values += [c * n for c in "xé" for n in (field.max_length, field.max_length + 1)]
    return values


WELL = {"type": "track", "userId": "u1", "event": "Viewed", "messageId": "m1"}
#: A well-formed message of the call type that needs each field, else a track call.
BASES = {
    name: {**WELL, "type": str(call_type), name: "x"}
    for call_type, name in SPEC.required_by_type.items()
}
ONE_ODD_FIELD = [
    pytest.param({**BASES.get(field.name, WELL), field.name: value}, id=f"{field.name}-{i}")
    for field in SPEC.fields
    for i, value in enumerate(boundary_values(field))
]


@pytest.mark.parametrize("msg", ONE_ODD_FIELD)
def test_every_rule_of_every_field_on_both_paths(msg: dict[str, Any]) -> None:
    assert_paths_agree(orjson.dumps({SPEC.batch: [WELL, msg]}))
    assert_event_agrees(msg)


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param({SPEC.batch: [WELL], field.name: value}, id=f"{field.name}-{i}")
        for field in SPEC.envelope
        for i, value in enumerate(boundary_values(field))
    ],
)
def test_every_rule_of_the_envelope_on_both_paths(envelope: dict[str, Any]) -> None:
    assert_paths_agree(orjson.dumps(envelope))


def assert_paths_agree(body: bytes) -> None:
    full = full_path("batch", body)
    fast = read_batch("batch", body, RECEIVED, SETTINGS)
    if fast is not None:
        assert rows(fast[1]) == full
        assert fast[0] == write_key_in_body(orjson.loads(body))


# -- the API and Event -------------------------------------------------------------------

#: Refusals of a rule Event holds too (sizes and depth are the API's alone).
EVENT_RULES = {"invalid_type", "invalid_field", "missing_identity"}


def reads_as_event_times(msg: dict[str, Any]) -> bool:
    # Ingestion checks that a timestamp is text; reading it is left to the pipeline.
    for field in SPEC.of_type(SegmentFieldType.TIMESTAMP):
        value = msg.get(field.name)
        if isinstance(value, str) and field.name != SPEC.received_at:
            try:
                DATETIME.validate_python(value)
            except ValidationError:
                return False
    return True


DATETIME = TypeAdapter(datetime)


@PROPERTIES
@given(msg=anything())
def test_the_api_and_event_agree_on_the_spec(msg: Any) -> None:
    assume(not isinstance(msg, dict) or reads_as_event_times(msg))
    assert_event_agrees(msg)


def assert_event_agrees(msg: Any) -> None:
    """What the API refuses for a rule Event holds too, Event refuses; what it accepts,
    Event reads (timestamps aside: see :func:`reads_as_event_times`)."""
    try:
        accepted = check_message(
            "", dict(msg) if isinstance(msg, dict) else msg, RECEIVED, SETTINGS
        )
    except IngestError as exc:
        if exc.code in EVENT_RULES and isinstance(msg, dict):
            try:
                Event.model_validate(msg)
            except ValidationError:
                return
            raise AssertionError(f"Event takes what the API refuses: {exc.message}") from None
        return
    if reads_as_event_times(msg):
        Event.model_validate(orjson.loads(accepted.body))

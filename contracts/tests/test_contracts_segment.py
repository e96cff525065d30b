"""The Segment message spec, and :class:`Event` as derived from it."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import ValidationError

from spokehub_contracts import SEGMENT_SPEC, Event, EventType, SegmentField, SegmentFieldType

SPEC = SEGMENT_SPEC
#: What an Event attribute holds, by the type the spec declares for its field.
ANNOTATIONS = {
    SegmentFieldType.ID: str,
    SegmentFieldType.TEXT: str,
    SegmentFieldType.TIMESTAMP: datetime,
    SegmentFieldType.OBJECT: dict,
}


def test_the_spec_is_consistent() -> None:
    names = [f.name for f in SPEC.fields]
    assert len(names) == len(set(names))
    assert set(SPEC.call_types) == set(EventType)
    for name in (*SPEC.identity, *SPEC.required_by_type.values()):
        assert SPEC.field(name).type is SegmentFieldType.ID or name == "event"
    assert set(SPEC.required_by_type) <= set(SPEC.call_types)
    for role in (SPEC.message_id, SPEC.received_at, SPEC.write_key):
        assert role in names
    assert {f.name for f in SPEC.checked} == set(names) - {SPEC.received_at, SPEC.write_key}
    assert SPEC.max_message_bytes < SPEC.max_request_bytes
    with pytest.raises(KeyError):
        SPEC.field("nope")


@pytest.mark.parametrize("field", [f for f in SPEC.fields if f.attribute], ids=lambda f: f.name)
def test_every_spec_field_is_an_event_attribute_as_declared(field: SegmentField) -> None:
    info = Event.model_fields[field.attribute or ""]
    assert (info.alias or field.attribute) == field.name
    assert (
        {a for a in get_args(info.annotation) if a is not type(None)}
        or {info.annotation} == {ANNOTATIONS[field.type]}
        or info.annotation.__origin__ is dict
    )
    limits = [m.max_length for m in info.metadata if getattr(m, "max_length", None)]
    assert limits == ([field.max_length] if field.max_length else [])


def test_event_has_no_attribute_the_spec_does_not_declare() -> None:
    declared = {f.attribute for f in SPEC.fields} | {"type"}
    assert set(Event.model_fields) <= declared


def _annotation_of(field: SegmentField) -> Any:
    # The type an attribute holds, without None, Annotated metadata or type arguments.
    annotation = Event.model_fields[field.attribute or ""].annotation
    while True:
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            (annotation,) = (a for a in get_args(annotation) if a is not type(None))
        elif origin is Annotated:
            annotation = get_args(annotation)[0]
        else:
            return origin or annotation


@pytest.mark.parametrize("field", [f for f in SPEC.fields if f.attribute], ids=lambda f: f.name)
def test_event_attribute_types_follow_the_spec(field: SegmentField) -> None:
    assert _annotation_of(field) is ANNOTATIONS[field.type]


BASE = {"type": "track", "userId": "u1", "event": "Viewed", "messageId": "m1"}


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"userId": None}, SPEC.identity_rule),
        ({"userId": ""}, SPEC.identity_rule),
        ({"event": ""}, SPEC.required_rule("track")),
        ({"type": "group"}, SPEC.required_rule("group")),
        ({"type": "alias"}, SPEC.required_rule("alias")),
        ({"messageId": "m\x00"}, "messageId must not contain NUL"),
        ({"messageId": "m" * 257}, "at most 256 characters"),
        ({"userId": "u" * 513}, "at most 512 characters"),
        ({"event": "e" * 513}, "at most 512 characters"),
        ({"timestamp": 1700000000}, "ISO 8601"),
        ({"type": ["track"]}, "type"),
    ],
)
def test_event_breaks_the_spec_rules_the_ingestion_api_names(
    changes: dict[str, Any], rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Event.model_validate({**BASE, **changes})
    assert rule in str(caught.value)


def test_event_reads_what_the_spec_allows() -> None:
    event = Event.model_validate(
        {
            **BASE,
            "messageId": 42,
            "userId": 7,
            "properties": None,
            "context": None,
            "originalTimestamp": "2026-01-02T03:04:05Z",
            "event": "e" * 512,
        }
    )
    assert (event.message_id, event.user_id) == ("42", "7")
    assert event.properties == {} and event.context == {}
    assert event.original_timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    # Not an Event attribute: kept among the extras, as sent.
    assert Event.model_validate({**BASE, "channel": "web"}).model_extra == {"channel": "web"}

"""The ingestion API's request schemas (OpenAPI 3.1 / JSON Schema), derived from the
Segment message spec (:data:`~spokehub_contracts.SEGMENT_SPEC`).

The schema says what a client should send; the server is as lenient as Segment where the
spec says so (``null`` as a field's absence, a numeric ID read as its text), and checks
what JSON Schema cannot say (sizes in bytes, nesting depth) itself.
"""

from __future__ import annotations

from typing import Any

from spokehub_contracts import SEGMENT_SPEC, SegmentField, SegmentFieldType

SPEC = SEGMENT_SPEC


def field_schema(field: SegmentField) -> dict[str, Any]:
    """One field's schema: its JSON type, format, length limit and NUL rule."""
    if field.type is SegmentFieldType.OBJECT:
        schema: dict[str, Any] = {"type": "object"}
    else:
        schema = {"type": "string"}
        if field.type is SegmentFieldType.TIMESTAMP:
            schema["format"] = "date-time"
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if not field.nul_allowed:
            schema["pattern"] = "^[^\\u0000]*$"
    if field.description:
        schema["description"] = field.description
    return schema


def message_schema(call_type: str, *, type_required: bool) -> dict[str, Any]:
    """What one ``call_type`` message must hold: an identity, and the field the call type
    cannot do without. ``type`` is required inside a batch, implied by a single call's
    endpoint."""
    properties: dict[str, Any] = {"type": {"type": "string", "enum": [call_type]}}
    for field in SPEC.fields:
        if field.name != SPEC.received_at:  # the hub's to set
            properties[field.name] = field_schema(field)
    required = ["type"] if type_required else []
    needed = SPEC.required_by_type.get(call_type)
    if needed is not None:
        required.append(needed)
        properties[needed] = {**properties[needed], "minLength": 1}
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "anyOf": [
            {"required": [name], "properties": {name: {"minLength": 1}}} for name in SPEC.identity
        ],
        "description": (
            f"A Segment {call_type} message: at most {SPEC.max_message_bytes} bytes,"
            f" nesting at most {SPEC.max_depth} levels."
        ),
    }


def batch_schema() -> dict[str, Any]:
    """A batch request: one or more messages of any call type, and the envelope's fields."""
    properties: dict[str, Any] = {
        SPEC.batch: {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [message_schema(t, type_required=True) for t in sorted(SPEC.call_types)]
            },
        }
    }
    properties.update({field.name: field_schema(field) for field in SPEC.envelope})
    return {
        "type": "object",
        "required": [SPEC.batch],
        "properties": properties,
        "description": f"At most {SPEC.max_request_bytes} bytes, after decompression.",
    }

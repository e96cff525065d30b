"""The ingestion API's OpenAPI request schemas say what the Segment message spec says, and
a message built from the spec's own rules validates against them exactly when the API
accepts it."""

from __future__ import annotations

import jsonschema
import pytest

from spokehub.api.ingestion import router
from spokehub.ingest import IngestError, IngestSettings, check_messages
from spokehub_contracts import SEGMENT_SPEC, SegmentFieldType

SPEC = SEGMENT_SPEC


def request_schema(path: str) -> dict:
    (route,) = (r for r in router.routes if r.path == path)
    return route.openapi_extra["requestBody"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("call_type", sorted(SPEC.call_types))
def test_each_single_call_schema_follows_the_spec(call_type):
    schema = request_schema(f"/v1/{call_type}")
    properties = schema["properties"]
    assert properties["type"]["enum"] == [call_type]
    for field in SPEC.fields:
        if field.name == SPEC.received_at:
            assert field.name not in properties  # the hub's to set
            continue
        declared = properties[field.name]
        json_type = "object" if field.type is SegmentFieldType.OBJECT else "string"
        assert declared["type"] == json_type
        assert declared.get("maxLength") == field.max_length
        assert ("pattern" in declared) is (not field.nul_allowed)
    needed = SPEC.required_by_type.get(call_type)
    assert schema["required"] == ([needed] if needed else [])
    assert [a["required"] for a in schema["anyOf"]] == [[name] for name in SPEC.identity]


def test_the_batch_schema_takes_every_call_type():
    schema = request_schema("/v1/batch")
    items = schema["properties"][SPEC.batch]["items"]["oneOf"]
    assert [item["properties"]["type"]["enum"] for item in items] == [
        [t] for t in sorted(SPEC.call_types)
    ]
    assert all("type" in item["required"] for item in items)
    assert {f.name for f in SPEC.envelope} <= set(schema["properties"])


MESSAGES = [
    {"type": "track", "userId": "u", "event": "e"},
    {"type": "track", "anonymousId": "a", "event": "e", "properties": {"x": 1}},
    {"type": "group", "userId": "u", "groupId": "g"},
    {"type": "alias", "userId": "u", "previousId": "p"},
    {"type": "identify", "userId": "u" * 512, "messageId": "m" * 256},
    # Broken, each one rule.
    {"type": "track", "event": "e"},
    {"type": "track", "userId": "u"},
    {"type": "track", "userId": "", "event": "e"},
    {"type": "group", "userId": "u", "groupId": ""},
    {"type": "identify", "userId": "u" * 513},
    {"type": "identify", "userId": "u", "messageId": "m" * 257},
    {"type": "identify", "userId": "u", "messageId": "m\x00"},
    {"type": "identify", "userId": "u", "traits": []},
    {"type": "identify", "userId": "u", "event": 5},
    {"type": "nope", "userId": "u"},
]


@pytest.mark.parametrize("msg", MESSAGES)
def test_the_schema_and_the_api_agree(msg):
    validator = jsonschema.Draft202012Validator(request_schema("/v1/batch"))
    valid = validator.is_valid({"batch": [msg]})
    try:
        check_messages("batch", {"batch": [dict(msg)]}, "2026-01-01T00:00:00Z", IngestSettings())
        accepted = True
    except IngestError:
        accepted = False
    assert valid is accepted

"""A well-formed batch is stored as sent (plus ``receivedAt``) and checked as the full
path checks it; anything the full path would read differently takes the full path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from spokehub.ingest import IngestSettings, check_messages, read_batch

RECEIVED = "2026-01-02T03:04:05.000006+00:00"
SETTINGS = IngestSettings()


def message(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u1",
        "event": "Viewed",
        "messageId": "m-1",
        "properties": {"price": 19.5, "tags": ["a", "é"]},
        "context": None,
        **fields,
    }


def full_path(body: bytes) -> list[Any]:
    return check_messages("batch", orjson.loads(body), RECEIVED, SETTINGS)


@pytest.mark.parametrize(
    "batch",
    [
        [message()],
        [message(), message(messageId="m-2", userId=None, anonymousId="a1")],
        [message(type="group", groupId="g1"), message(type="alias", previousId="p")],
        [message(extra={"deep": [[[1, 2.5e300, -7]]]}, traits={})],
    ],
)
def test_a_well_formed_batch_is_stored_as_the_full_path_stores_it(batch):
    body = orjson.dumps({"batch": batch, "writeKey": "wk"})
    fast = read_batch("batch", body, RECEIVED, SETTINGS)
    assert fast is not None
    key, accepted = fast
    assert key == "wk"
    assert accepted == full_path(body)


def test_the_stored_body_is_the_message_as_sent_with_received_at():
    body = b'{"batch": [ {"type": "track", "userId": "u", "event": "e", "messageId": "m"} ]}'
    fast = read_batch("batch", body, RECEIVED, SETTINGS)
    assert fast is not None
    stored = fast[1][0].body
    assert stored.startswith(b'{"type": "track", "userId": "u"')
    assert orjson.loads(stored)["receivedAt"] == RECEIVED


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b'{"batch": []}',
        b'{"batch": {}}',
        b'{"batch": [1]}',
        # Refused or changed by the full path: each must get its answer there.
        orjson.dumps({"batch": [message(userId=7)]}),
        orjson.dumps({"batch": [message(messageId=None)]}),
        orjson.dumps({"batch": [message(properties=3)]}),
        orjson.dumps({"batch": [message(writeKey="wk")]}),
        orjson.dumps({"batch": [message(receivedAt="2020-01-01T00:00:00Z")]}),
        orjson.dumps({"batch": [message(event="")]}),
        orjson.dumps({"batch": [message(messageId="m\x00")]}),
        # JSON orjson refuses, in fields no check reads.
        b'{"batch": [{"type": "track", "userId": "u", "event": "e", "x": "\xff"}]}',
        b'{"batch": [{"type": "track", "userId": "u", "event": "e", "x": "\\ud800"}]}',
        b'{"batch": [{"type": "track", "userId": "u", "event": "e", "x": 1' + b"0" * 400 + b"}]}",
    ],
)
def test_anything_else_takes_the_full_path(body):
    assert read_batch("batch", body, RECEIVED, SETTINGS) is None


def test_a_single_call_takes_the_full_path():
    body = orjson.dumps(message())
    assert read_batch("track", body, RECEIVED, SETTINGS) is None


def test_an_event_over_the_limit_takes_the_full_path():
    body = orjson.dumps({"batch": [message(properties={"blob": "x" * 40_000})]})
    assert read_batch("batch", body, RECEIVED, SETTINGS) is None

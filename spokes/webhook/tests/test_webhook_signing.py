"""The signature, as the Standard Webhooks spec defines it: checked against the spec's
published example and against an HMAC computed here by hand, not by the library the spoke
signs with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from pydantic import SecretStr
from webhook_receiver import Receiver

from spokehub_contracts import AudienceEntered, Identifier
from spokehub_webhook import message_id, sign, signing_key
from spokehub_webhook.testing import SANDBOX_SECRET

# The example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

ADA = (Identifier(type="email", value="ada@example.com"),)


def by_hand(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_the_specs_example_signs_as_published() -> None:
    assert sign(SecretStr(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert by_hand(SPEC_SECRET, SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY) == SPEC_SIGNATURE


def test_the_key_is_the_base64_after_whsec() -> None:
    assert signing_key(SecretStr(SPEC_SECRET)) == base64.b64decode(
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    )


def test_a_sent_request_carries_a_signature_over_id_timestamp_and_body(
    receiver: Receiver,
) -> None:
    receiver.write([AudienceEntered(item_id="1", identifiers=ADA, audience="buyers")])
    [request] = receiver.sandbox.requests
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-timestamp"].isdigit()
    expected = by_hand(
        SANDBOX_SECRET, headers["webhook-id"], headers["webhook-timestamp"], request.body
    )
    assert headers["webhook-signature"] == expected
    body = json.loads(request.body)
    assert body["type"] == "spokehub.changes"
    assert body["data"]["connection"] == "order_tool"
    assert body["data"]["changes"] == [
        {
            "item_id": "1",
            "identifiers": [{"type": "email", "value": "ada@example.com"}],
            "kind": "audience_entered",
            "audience": "buyers",
        }
    ]


def test_the_message_id_names_the_batch() -> None:
    first = message_id("order_tool", ["1", "2"])
    assert first == message_id("order_tool", ["1", "2"])
    assert first.startswith("msg_")
    assert len({first, message_id("order_tool", ["1", "3"]), message_id("crm", ["1", "2"])}) == 3
    # Item ids are kept apart: ("1", "23") is not ("12", "3").
    assert message_id("c", ["1", "23"]) != message_id("c", ["12", "3"])

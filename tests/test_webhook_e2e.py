"""End to end through ``spokehub serve``: an identify in, a signed batch at a webhook
receiver out, whose signature verifies by hand (HMAC-SHA256 over id.timestamp.body with
the key after ``whsec_``), with the secret taken from the environment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox

from .daemon import wait_until
from .serving import send, serving

ROUTES = [{"to": "order_tool", "kinds": ["upsert_person"]}]


def _order_tool(url: str) -> dict[str, Any]:
    config = {"url": url, "secret": "${ORDER_TOOL_WEBHOOK_SECRET}"}
    return {"order_tool": {"spoke": "webhook", "config": config}}


def signature(headers: httpx.Headers, body: bytes) -> str:
    """The Standard Webhooks signature of ``body``, computed by hand: HMAC-SHA256 over
    ``id.timestamp.body`` keyed with the bytes after ``whsec_``."""
    key = base64.b64decode(SANDBOX_SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_an_identify_reaches_a_webhook_receiver_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDER_TOOL_WEBHOOK_SECRET", SANDBOX_SECRET)
    with WebhookReceiverSandbox() as receiver:
        hooks = _order_tool(receiver.url + "/hooks/spokehub")
        with serving(tmp_path, hooks, ROUTES) as daemon:
            identify = {
                "type": "identify",
                "userId": "u-ada",
                "traits": {"email": "Ada@Example.com", "firstName": "Ada"},
            }
            send(daemon, identify)
            wait_until(lambda: receiver.messages)
    assert receiver.refused == []
    [request] = [r for r in receiver.requests if r.status == 200]
    assert request.path == "/hooks/spokehub"
    assert request.headers["webhook-signature"] == signature(request.headers, request.body)
    assert abs(time.time() - int(request.headers["webhook-timestamp"])) < 300
    message = json.loads(request.body)
    assert message["type"] == "spokehub.changes"
    assert message["data"]["connection"] == "order_tool"
    [change] = message["data"]["changes"]
    assert change["kind"] == "upsert_person"
    assert change["person"]["first_name"] == "Ada"
    assert {"type": "email", "value": "ada@example.com"} in change["identifiers"]
    assert change["contact_id"]

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

import httpx
import pytest
import yaml

from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port


def _project(tmp_path: Path, port: int, url: str) -> Path:
    path = tmp_path / "spokehub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
                "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN},
                "connections": {
                    "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                    "order_tool": {
                        "kind": "destination",
                        "spoke": "webhook",
                        "config": {"url": url, "secret": "${ORDER_TOOL_WEBHOOK_SECRET}"},
                    },
                },
                "routes": [{"to": "order_tool", "kinds": ["upsert_person"]}],
            }
        )
    )
    return path


def _signature(headers: httpx.Headers, body: bytes) -> str:
    key = base64.b64decode(SANDBOX_SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_an_identify_reaches_a_webhook_receiver_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDER_TOOL_WEBHOOK_SECRET", SANDBOX_SECRET)
    port = free_port()
    with WebhookReceiverSandbox() as receiver:
        config = _project(tmp_path, port, receiver.url + "/hooks/spokehub")
        daemon = Daemon(config, port, plugins="webhook").start()
        try:
            identify = {
                "type": "identify",
                "userId": "u-ada",
                "traits": {"email": "Ada@Example.com", "firstName": "Ada"},
            }
            response = httpx.post(
                f"{daemon.url}/v1/batch",
                json={"batch": [identify]},
                auth=(WRITE_KEY, ""),
                timeout=10,
            )
            assert response.status_code == 200, response.text
            deadline = time.monotonic() + 60
            while not receiver.messages and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            assert daemon.stop() == 0
    assert receiver.refused == []
    [request] = [r for r in receiver.requests if r.status == 200]
    assert request.path == "/hooks/spokehub"
    assert request.headers["webhook-signature"] == _signature(request.headers, request.body)
    assert abs(time.time() - int(request.headers["webhook-timestamp"])) < 300
    message = json.loads(request.body)
    assert message["type"] == "spokehub.changes"
    assert message["data"]["connection"] == "order_tool"
    [change] = message["data"]["changes"]
    assert change["kind"] == "upsert_person"
    assert change["person"]["first_name"] == "Ada"
    assert {"type": "email", "value": "ada@example.com"} in change["identifiers"]
    assert change["contact_id"]

"""``POST /v1/webhooks/{connection}``: verified by the spoke, parsed, committed to the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.pipeline import Pipeline
from spokehub.registry import Registry
from spokehub.store.tables import inbox
from spokehub_contracts import (
    Capabilities,
    Identifier,
    Person,
    Source,
    SourceRecord,
    WebhookRequest,
    hookimpl,
)

SECRET = "s3cret"


class PushSource(Source):
    """Accepts a request whose ``x-signature`` header is the shared secret."""

    name = "push-test"
    capabilities = Capabilities(webhooks=True)

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        return request.headers.get("x-signature") == SECRET

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        data = orjson.loads(request.body)
        return [
            SourceRecord(
                stream="contacts",
                record_id=str(item["id"]),
                identifiers=(Identifier(type="email", value=item["email"]),),
                data=Person(first_name=item.get("first_name")),
            )
            for item in data["contacts"]
        ]

    def webhook_delivery_id(self, request: WebhookRequest) -> str | None:
        return request.headers.get("x-event-id")


class PullOnlySource(Source):
    """A source without webhooks (the default capabilities)."""

    name = "pull-test"


def _plugin(*classes: type[Source]) -> Any:
    @hookimpl
    def register_sources(register: Any) -> None:
        for cls in classes:
            register(cls)

    return SimpleNamespace(register_sources=register_sources)


@pytest.fixture
def hub(engine):
    registry = Registry.load(
        allow=(), extra_plugins=[("webhook-tests", _plugin(PushSource, PullOnlySource))]
    )
    project = validate(
        {
            "connections": {
                "crm": {"kind": "source", "spoke": "push-test"},
                "files": {"kind": "source", "spoke": "pull-test"},
                "web": {"kind": "source", "write_keys": ["wk"]},
            }
        },
        registry,
    )
    app = create_app(project, registry, engine, settings=IngestSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield SimpleNamespace(client=client, project=project, registry=registry)


BODY = {"contacts": [{"id": 1, "email": "ada@example.com", "first_name": "Ada"}]}


def _post(client, connection, body=BODY, signature=SECRET, event=None):
    headers = {"x-signature": signature}
    if event is not None:
        headers["x-event-id"] = event
    return client.post(f"/v1/webhooks/{connection}", content=orjson.dumps(body), headers=headers)


def _inbox(engine):
    with engine.connect() as conn:
        return conn.execute(select(inbox.c.connection, inbox.c.kind, inbox.c.status)).all()


def test_a_verified_webhook_is_committed_and_becomes_a_profile(hub, engine):
    r = _post(hub.client, "crm")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert _inbox(engine) == [("crm", "record", "pending")]
    # A vendor's retry of the same delivery is stored once.
    assert _post(hub.client, "crm").status_code == 200
    assert len(_inbox(engine)) == 1

    stats = Pipeline(engine, hub.project, hub.registry).drain()
    assert stats.processed == 1
    from spokehub.identity.lookup import lookup

    with engine.connect() as conn:
        assert lookup(conn, Identifier(type="email", value="ada@example.com")) is not None


def test_an_unknown_connection_is_404_json(hub, engine):
    r = _post(hub.client, "nope")
    assert r.status_code == 404
    assert r.json()["success"] is False and r.json()["code"] == "not_found"
    # a connection without a spoke (HTTP API source) takes no webhooks either
    assert _post(hub.client, "web").status_code == 404
    assert _inbox(engine) == []


def test_a_spoke_without_webhooks_is_404_json(hub, engine):
    r = _post(hub.client, "files")
    assert r.status_code == 404
    assert r.json() == {
        "success": False,
        "code": "not_found",
        "message": "that connection's spoke does not take webhooks",
    }
    assert _inbox(engine) == []


def test_a_failed_verification_is_401_and_stores_nothing(hub, engine):
    r = _post(hub.client, "crm", signature="forged")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert _inbox(engine) == []


def test_a_body_the_spoke_cannot_parse_is_400(hub, engine):
    r = hub.client.post("/v1/webhooks/crm", content=b"not json", headers={"x-signature": SECRET})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_webhook"
    assert _inbox(engine) == []


def test_a_full_backlog_holds_webhooks_back_too(hub, engine):
    watch = hub.client.app.state.backpressure
    watch.max_pending = 1
    for n in (1, 2):
        body = {"contacts": [{"id": n, "email": f"p{n}@example.com"}]}
        assert _post(hub.client, "crm", body).status_code == 200
    r = _post(hub.client, "crm", {"contacts": [{"id": 3, "email": "p3@example.com"}]})
    assert r.status_code == 503
    assert r.json()["code"] == "backlog_full" and "retry-after" in r.headers
    assert len(_inbox(engine)) == 2


def test_an_event_the_vendor_names_is_stored_once_whatever_the_body(hub, engine):
    assert _post(hub.client, "crm", event="evt-1").status_code == 200
    # Delivered again with another body (another API version's shape, say): one event.
    changed = {"contacts": [{"id": 1, "email": "ada@example.com", "first_name": "Augusta"}]}
    assert _post(hub.client, "crm", changed, event="evt-1").status_code == 200
    assert len(_inbox(engine)) == 1
    # Another event of the same content is still a repeat by content.
    assert _post(hub.client, "crm", event="evt-2").status_code == 200
    assert len(_inbox(engine)) == 1
    # Another event with new content is stored.
    assert _post(hub.client, "crm", changed, event="evt-3").status_code == 200
    assert len(_inbox(engine)) == 2


def test_a_delivery_seen_before_the_window_is_stored_again(engine):
    from datetime import timedelta

    from spokehub.ingest import Accepted, write_delivery
    from spokehub.ingest.keys import delivery_message_id
    from spokehub_contracts import utcnow

    key = delivery_message_id("evt-9")
    then = utcnow() - timedelta(hours=2)
    first = [Accepted("contacts:a", None, b'{"n": 1}')]
    again = [Accepted("contacts:b", None, b'{"n": 2}')]
    assert write_delivery(engine, "crm", key, first, dedup_window=3600, now=then).stored == 1
    assert write_delivery(engine, "crm", key, again, dedup_window=3600, now=then).stored == 0
    assert write_delivery(engine, "crm", key, again, dedup_window=3600).stored == 1
    assert write_delivery(engine, "crm", key, again, dedup_window=3600).duplicates == 1

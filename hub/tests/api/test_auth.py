"""Who may call: the admin token is never matched by an empty one; a credential in a
header is checked before the body is read; failures are counted, logged without the
credential and limited per client address."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from ipaddress import ip_network
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from structlog.testing import capture_logs

from spokehub.api import create_app
from spokehub.api.throttle import FailureBuckets, client_address
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.registry import Registry
from spokehub_contracts import Capabilities, Source, SourceRecord, WebhookRequest, hookimpl

KEY = "wk-auth-test"
ADMIN = "admin-auth-test"


def make_app(engine, **server):
    project = validate(
        {
            "server": {"admin_token": ADMIN, **server},
            "connections": {"web": {"kind": "source", "write_keys": [KEY]}},
        }
    )
    return create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())


@pytest.fixture
def app(sqlite_engine):
    return make_app(sqlite_engine)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "Bearer    ", "bearer \t"])
def test_an_empty_bearer_token_is_refused_even_against_an_empty_token(app, client, header):
    # Validation refuses an empty token; should one ever slip through, it still opens nothing.
    app.state.project.server.admin_token = SecretStr("")
    r = client.get("/v1/profiles/abc", headers={"Authorization": header})
    assert r.status_code == 401
    r = client.post("/v1/profiles/abc/unmerge", headers={"Authorization": header}, json={})
    assert r.status_code == 401


def test_the_admin_token_opens_the_profile_api(client):
    r = client.get("/v1/profiles/abc", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 404
    r = client.get("/v1/profiles/abc", headers={"Authorization": f"Bearer {ADMIN}x"})
    assert r.status_code == 401
    r = client.get("/v1/profiles/abc", headers={"Authorization": f"Basic {ADMIN}"})
    assert r.status_code == 401


# --- A credential in a header is checked before the body is read ---------------------


async def call(app, method, path, headers=(), body=b"{}", client=("203.0.113.7", 40000)):
    """One request straight through ASGI; returns (status, headers, times the body was read)."""
    reads = []

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": body, "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": client,
        "server": ("hub.test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, len(reads)


def basic(key: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{key}:".encode()).decode())


TRACK = orjson.dumps({"userId": "u1", "event": "Clicked"})


async def test_an_unknown_basic_key_is_refused_before_the_body_is_read(app):
    status, _, reads = await call(app, "POST", "/v1/track", [basic("wk-guess")], TRACK)
    assert (status, reads) == (401, 0)
    bad_header = ("Authorization", "Basic !!!")
    status, _, reads = await call(app, "POST", "/v1/batch", [bad_header], TRACK)
    assert (status, reads) == (401, 0)
    # The same request with the right key reads its body and is stored.
    status, _, reads = await call(app, "POST", "/v1/track", [basic(KEY)], TRACK)
    assert status == 200 and reads >= 1


async def test_a_wrong_admin_token_is_refused_before_the_body_is_read(app):
    headers = [("Authorization", "Bearer wrong"), ("Content-Type", "application/json")]
    body = b'{"identifier": "email:a@example.com"}'
    status, _, reads = await call(app, "POST", "/v1/profiles/abc/unmerge", headers, body)
    assert (status, reads) == (401, 0)
    status, _, reads = await call(app, "POST", "/v1/deliveries/crm/replay", headers, body)
    assert (status, reads) == (401, 0)
    # An unauthenticated caller learns nothing about the body's shape (no 422).
    status, _, _ = await call(app, "POST", "/v1/profiles/abc/unmerge", headers, b"[")
    assert status == 401


# --- Failures are counted, logged without the credential, and limited per address ---


class PushSource(Source):
    """A push source whose webhook carries a shared secret."""

    name = "push-auth"
    capabilities = Capabilities(webhooks=True)

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        return request.headers.get("x-signature") == "sig-ok"

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        return []


@hookimpl
def register_sources(register: Any) -> None:
    register(PushSource)


def guarded_app(engine, burst=3, per_minute=6.0, trusted=()):
    registry = Registry.load(
        allow=(), extra_plugins=[("auth-tests", SimpleNamespace(register_sources=register_sources))]
    )
    project = validate(
        {
            "server": {
                "admin_token": ADMIN,
                "auth_failures": {"burst": burst, "per_minute": per_minute},
                "trusted_proxies": list(trusted),
            },
            "connections": {
                "web": {"kind": "source", "write_keys": [KEY]},
                "crm": {"kind": "source", "spoke": "push-auth"},
            },
        },
        registry,
    )
    return create_app(project, registry, engine, settings=IngestSettings())


def metric(app, name: str, route: str) -> float:
    value = app.state.metrics.registry.get_sample_value(f"{name}_total", {"route": route})
    return value or 0.0


async def test_failures_are_counted_by_route_class_and_logged_without_the_credential(
    sqlite_engine,
):
    app = guarded_app(sqlite_engine, burst=100)
    with capture_logs() as logs:
        await call(app, "POST", "/v1/track", [basic("wk-guess-one")], TRACK)
        await call(app, "POST", "/v1/track", [], orjson.dumps({"writeKey": "wk-guess-two"}))
        await call(app, "POST", "/v1/webhooks/crm", [("x-signature", "sig-guess")])
        await call(app, "GET", "/v1/profiles/abc", [("Authorization", "Bearer tok-guess")])
        await call(app, "GET", "/v1/profiles/abc", [])
        # Not failures: a good key, a webhook to no connection, an unknown path.
        await call(app, "POST", "/v1/track", [basic(KEY)], TRACK)
        await call(app, "POST", "/v1/webhooks/nope", [("x-signature", "sig-guess")])
    assert metric(app, "spokehub_auth_failures", "ingestion") == 2
    assert metric(app, "spokehub_auth_failures", "webhooks") == 1
    assert metric(app, "spokehub_auth_failures", "admin") == 2

    failures = [e for e in logs if e["event"] == "authentication failed"]
    assert [(e["log_level"], e["route"]) for e in failures] == [
        ("warning", "ingestion"),
        ("warning", "ingestion"),
        ("warning", "webhooks"),
        ("warning", "admin"),
        ("warning", "admin"),
    ]
    assert all(e["client"] == "203.0.113.7" for e in failures)
    text = repr(logs)
    for guess in ("wk-guess-one", "wk-guess-two", "sig-guess", "tok-guess", KEY, ADMIN):
        assert guess not in text

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://h") as c:
        exposed = (await c.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})).text
    assert 'spokehub_auth_failures_total{route="admin"} 2.0' in exposed
    assert 'spokehub_auth_throttled_total{route="webhooks"} 0.0' in exposed


async def test_an_address_that_failed_too_often_is_refused_unchecked(sqlite_engine):
    app = guarded_app(sqlite_engine, burst=3, per_minute=6.0)
    for _ in range(3):
        status, _, _ = await call(app, "POST", "/v1/track", [basic("wk-guess")], TRACK)
        assert status == 401
    # Now even the right key is not looked at, nor the body read, on any route class.
    for method, path, headers in (
        ("POST", "/v1/track", [basic(KEY)]),
        ("POST", "/v1/webhooks/crm", [("x-signature", "sig-ok")]),
        ("GET", "/v1/profiles/abc", [("Authorization", f"Bearer {ADMIN}")]),
    ):
        status, headers_out, reads = await call(app, method, path, headers, TRACK)
        assert (status, reads) == (429, 0), path
        assert 1 <= int(headers_out["retry-after"]) <= 10
    assert metric(app, "spokehub_auth_failures", "ingestion") == 3
    assert metric(app, "spokehub_auth_throttled", "ingestion") == 1
    assert metric(app, "spokehub_auth_throttled", "webhooks") == 1
    assert metric(app, "spokehub_auth_throttled", "admin") == 1
    # Another address is not held back.
    other = ("198.51.100.4", 1234)
    status, _, _ = await call(app, "POST", "/v1/track", [basic(KEY)], TRACK, client=other)
    assert status == 200


async def test_the_client_behind_a_trusted_proxy_is_limited_not_the_proxy(sqlite_engine):
    proxy = ("10.1.2.3", 5555)
    app = guarded_app(sqlite_engine, burst=2, trusted=["10.0.0.0/8"])

    def via(client_ip):
        return [basic("wk-guess"), ("X-Forwarded-For", f"{client_ip}, 10.9.9.9")]

    for _ in range(2):
        assert (await call(app, "POST", "/v1/track", via("192.0.2.1"), client=proxy))[0] == 401
    assert (await call(app, "POST", "/v1/track", via("192.0.2.1"), client=proxy))[0] == 429
    # Another client behind the same proxy goes on.
    assert (await call(app, "POST", "/v1/track", via("192.0.2.2"), client=proxy))[0] == 401

    # From a peer that is not a trusted proxy the header is ignored: a client cannot
    # step out of its limit by naming another address.
    direct = ("203.0.113.9", 1)
    for n in range(3):
        status, _, _ = await call(app, "POST", "/v1/track", via(f"192.0.2.{10 + n}"), client=direct)
        assert status == (401 if n < 2 else 429)


# --- Units: the client address and the failure buckets ------------------------------


def test_client_address_believes_forwarded_for_only_from_trusted_proxies():
    trusted = [ip_network("10.0.0.0/8"), ip_network("::1/128")]
    assert client_address("203.0.113.5", "1.2.3.4", trusted) == "203.0.113.5"
    assert client_address("10.0.0.1", None, trusted) == "10.0.0.1"
    assert client_address("10.0.0.1", "1.2.3.4", trusted) == "1.2.3.4"
    # Read from the right: what the client wrote itself (left of its own address) is skipped.
    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", trusted) == "1.2.3.4"
    assert client_address("::1", "10.0.0.3, 10.0.0.2", trusted) == "10.0.0.3"
    assert client_address("10.0.0.1", " , ", trusted) == "10.0.0.1"
    assert client_address("10.0.0.1", "x" * 500, trusted) == "x" * 64
    assert client_address("testclient", "1.2.3.4", trusted) == "testclient"
    assert client_address(None, None, []) == "unknown"


def test_failure_buckets_allow_a_burst_then_refill_at_the_rate():
    now = [1000.0]
    buckets = FailureBuckets(3, per_second=0.5, clock=lambda: now[0])
    assert buckets.wait("a") == 0
    for _ in range(3):
        buckets.fail("a")
    assert buckets.wait("a") == pytest.approx(2.0)  # one token back after 2 s
    assert buckets.wait("b") == 0
    now[0] += 2.0
    assert buckets.wait("a") == 0
    buckets.fail("a")
    assert buckets.wait("a") == pytest.approx(2.0)
    now[0] += 60
    assert buckets.wait("a") == 0
    for _ in range(3):  # refilled to the burst, never beyond
        buckets.fail("a")
    assert buckets.wait("a") > 0


def test_failure_buckets_forget_the_address_that_failed_longest_ago():
    buckets = FailureBuckets(1, per_second=0.001, clock=lambda: 0.0, max_addresses=2)
    for address in ("a", "b", "a", "c"):
        buckets.fail(address)
    assert buckets.wait("b") == 0  # dropped: it failed longest ago
    assert buckets.wait("a") > 0 and buckets.wait("c") > 0

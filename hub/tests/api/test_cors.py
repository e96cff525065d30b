"""Browsers as analytics.js sends them: a preflight answered for configured origins only,
then a ``text/plain`` POST with ``writeKey`` in the body."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.registry import Registry
from spokehub.store.tables import inbox

KEY = "wk-browser"
SHOP = "https://shop.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


def make_client(engine, origins):
    project = validate(
        {
            "server": {"admin_token": "admin-cors", "cors_origins": origins},
            "connections": {"web": {"kind": "source", "write_keys": [KEY]}},
        }
    )
    app = create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(sqlite_engine):
    with make_client(sqlite_engine, [SHOP, "http://localhost:3000"]) as c:
        yield c


def stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(inbox)).scalar_one()


def test_a_browser_from_a_configured_origin_sends_an_event(client, sqlite_engine):
    r = client.options("/v1/track", headers={"Origin": SHOP, **PREFLIGHT})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "content-type" in r.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers

    body = {"writeKey": KEY, "userId": "u1", "event": "Viewed", "type": "track"}
    r = client.post(
        "/v1/track",
        content=orjson.dumps(body),
        headers={"Origin": SHOP, "Content-Type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    assert r.headers["access-control-allow-origin"] == SHOP
    assert stored(sqlite_engine) == 1

    # A batch as analytics.js's batching sends it, and an SDK's Basic header asked about.
    batch = {"writeKey": KEY, "batch": [{"type": "page", "anonymousId": "a1", "name": "Home"}]}
    r = client.post(
        "/v1/batch",
        content=orjson.dumps(batch),
        headers={"Origin": SHOP, "Content-Type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    headers = {**PREFLIGHT, "Access-Control-Request-Headers": "authorization, content-type"}
    r = client.options("/v1/batch", headers={"Origin": "http://localhost:3000", **headers})
    assert r.status_code == 200
    assert "authorization" in r.headers["access-control-allow-headers"].lower()


def test_a_preflight_from_another_origin_is_refused(client, sqlite_engine):
    r = client.options("/v1/track", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    # A simple request from there is not shown its answer either (no allow-origin header).
    body = {"writeKey": KEY, "userId": "u1", "event": "Viewed"}
    r = client.post(
        "/v1/track",
        content=orjson.dumps(body),
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert "access-control-allow-origin" not in r.headers


def test_the_admin_api_is_never_opened_to_a_web_page(client):
    r = client.options("/v1/profiles/abc", headers={"Origin": SHOP, **PREFLIGHT})
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/v1/profiles/abc", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in r.headers


def test_without_configured_origins_no_preflight_is_answered(sqlite_engine):
    with make_client(sqlite_engine, []) as c:
        r = c.options("/v1/track", headers={"Origin": SHOP, **PREFLIGHT})
        assert r.status_code == 405
        assert "access-control-allow-origin" not in r.headers


def test_analytics_js_short_paths_and_its_rate_limit_header(client, sqlite_engine):
    """analytics-next posts to ``{apiHost}/t``, ``/i``, ``/p``, ``/s``, ``/g``, ``/a`` and,
    batching, ``/b``; on a 429 it waits for ``X-RateLimit-Reset`` seconds."""
    calls = {
        "t": {"type": "track", "userId": "u1", "event": "Viewed"},
        "i": {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        "p": {"type": "page", "anonymousId": "a1", "name": "Home"},
        "s": {"type": "screen", "anonymousId": "a1", "name": "Main"},
        "g": {"type": "group", "userId": "u1", "groupId": "g1"},
        "a": {"type": "alias", "userId": "u1", "previousId": "a1"},
        "b": {"batch": [{"type": "track", "anonymousId": "a1", "event": "Batched"}]},
    }
    for path, body in calls.items():
        r = client.options(f"/v1/{path}", headers={"Origin": SHOP, **PREFLIGHT})
        assert r.status_code == 200, path
        r = client.post(
            f"/v1/{path}",
            content=orjson.dumps({**body, "writeKey": KEY}),
            headers={"Origin": SHOP, "Content-Type": "text/plain"},
        )
        assert r.status_code == 200, (path, r.text)
        assert r.headers["access-control-allow-origin"] == SHOP
    with sqlite_engine.connect() as conn:
        bodies = conn.execute(select(inbox.c.body).order_by(inbox.c.id)).scalars().all()
    types = [orjson.loads(b)["type"] for b in bodies]
    assert types == ["track", "identify", "page", "screen", "group", "alias", "track"]
    # A short path takes its own call type only, as the long one does.
    r = client.post("/v1/t", content=orjson.dumps({**calls["p"], "writeKey": KEY}))
    assert (r.status_code, r.json()["code"]) == (400, "invalid_type")

    # Wrong keys until the address is throttled: the 429 says when, in both headers, and
    # a page may read them.
    for _ in range(40):
        r = client.post(
            "/v1/t",
            content=orjson.dumps({**calls["t"], "writeKey": "wrong"}),
            headers={"Origin": SHOP, "Content-Type": "text/plain"},
        )
        if r.status_code == 429:
            break
    assert r.status_code == 429
    assert r.headers["x-ratelimit-reset"] == r.headers["retry-after"]
    assert "x-ratelimit-reset" in r.headers["access-control-expose-headers"].lower()

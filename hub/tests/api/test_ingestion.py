"""Segment-compatible ingestion: auth, shapes, limits, gzip, dedup, and JSON errors."""

from __future__ import annotations

import base64
import gzip
import json

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.registry import Registry
from spokehub.store.tables import inbox

KEY = "wk-api-test"


@pytest.fixture
def client(engine):
    project = validate(
        {
            "server": {"admin_token": "admin-secret"},
            "connections": {"web": {"kind": "source", "write_keys": [KEY]}},
        }
    )
    app = create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def pending(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(inbox)).scalar_one()


def post(client, path, body, **kw):
    return client.post(path, content=orjson.dumps(body), auth=(KEY, ""), **kw)


def test_each_call_type_is_accepted_and_committed(client, engine):
    calls = {
        "identify": {"userId": "u1", "traits": {"email": "a@example.com"}},
        "track": {"userId": "u1", "event": "Clicked"},
        "page": {"anonymousId": "a1", "name": "Home"},
        "screen": {"anonymousId": "a1", "name": "Main"},
        "group": {"userId": "u1", "groupId": "g1"},
        "alias": {"userId": "u1", "previousId": "a1"},
    }
    for kind, body in calls.items():
        r = post(client, f"/v1/{kind}", body)
        assert r.status_code == 200, r.text
        assert r.json() == {"success": True}
    r = post(client, "/v1/import", {"batch": [{"type": "track", "userId": "u", "event": "e"}]})
    assert r.status_code == 200
    assert pending(engine) == 7


def test_write_key_in_body_is_accepted(client, engine):
    r = client.post(
        "/v1/batch",
        json={"writeKey": KEY, "batch": [{"type": "track", "userId": "u", "event": "e"}]},
    )
    assert r.status_code == 200
    assert pending(engine) == 1


def test_duplicate_message_id_is_acknowledged_once_stored(client, engine):
    msg = {"type": "track", "userId": "u", "event": "e", "messageId": "m-1"}
    assert post(client, "/v1/batch", {"batch": [msg, msg]}).status_code == 200
    assert post(client, "/v1/track", msg).status_code == 200
    assert pending(engine) == 1


def test_gzip_body(client, engine):
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "e"}]}))
    r = client.post("/v1/batch", content=body, auth=(KEY, ""), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert pending(engine) == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "names"),
    [
        (b"{not json", 400, "invalid_json", "JSON"),
        (b"", 400, "invalid_json", "empty"),
        (b"[1, 2]", 400, "invalid_shape", "object"),
        (b'{"batch": {}}', 400, "invalid_shape", "batch"),
        (
            b'{"batch": [{"type": "track", "event": "e"}]}',
            400,
            "missing_identity",
            "userId or anonymousId",
        ),
        (
            b'{"batch": [{"type": "track", "userId": ["x"], "event": "e"}]}',
            400,
            "invalid_field",
            "batch[0].userId",
        ),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": 3}]}',
            400,
            "invalid_field",
            "batch[0].properties",
        ),
        (b'{"batch": [{"type": "nope", "userId": "u"}]}', 400, "invalid_type", "batch[0].type"),
        (b'{"batch": [{"type": "track", "userId": "u"}]}', 400, "invalid_field", "batch[0].event"),
        # A type that is not a string (an object or a list cannot even be looked up).
        (b'{"batch": [{"type": {"a": 1}, "userId": "u"}]}', 400, "invalid_type", "batch[0].type"),
        (b'{"batch": [{"type": ["track"], "userId": "u"}]}', 400, "invalid_type", "batch[0].type"),
        # What the store cannot hold, by either path (the first message takes the fast one).
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": "m1"},'
            b' {"type": "track", "userId": "u\\u0000", "event": "e", "messageId": "m2"}]}',
            400,
            "invalid_field",
            "batch[1].userId: must not contain NUL",
        ),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e",'
            b' "properties": {"a": [{"k\\u0000": 1}]}}]}',
            400,
            "invalid_field",
            "batch[0].properties: must not contain NUL",
        ),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": "m",'
            b' "timestamp": "0001-01-01T00:00:00+05:00"}]}',
            400,
            "invalid_field",
            "batch[0].timestamp: must be a moment between the years 1 and 9999 in UTC",
        ),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e",'
            b' "sentAt": "9999-12-31T23:00:00-05:00"}]}',
            400,
            "invalid_field",
            "batch[0].sentAt: must be a moment between the years 1 and 9999 in UTC",
        ),
        # Nested deeper than the encoder writes: refused, not a server error.
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": '
            + b'{"a":' * 300
            + b"1"
            + b"}" * 301
            + b"]}",
            400,
            "too_deep",
            "batch[0]",
        ),
        (b'{"batch": [["track"]]}', 400, "invalid_shape", "batch[0]: must be a JSON object"),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": {"a": 1}}]}',
            400,
            "invalid_field",
            "batch[0].event: must be a string",
        ),
        (
            orjson.dumps({"batch": [{"type": "track", "userId": "u" * 513, "event": "e"}]}),
            400,
            "invalid_field",
            "batch[0].userId: at most 512 characters",
        ),
        (
            b'{"sentAt": 5, "batch": [{"type": "track", "userId": "u", "event": "e"}]}',
            400,
            "invalid_field",
            "sentAt: must be a string",
        ),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_problem(client, engine, body, status, code, names):
    r = client.post("/v1/batch", content=body, auth=(KEY, ""))
    assert r.status_code == status
    assert r.json()["success"] is False
    assert r.json()["code"] == code
    assert names in r.json()["message"]
    assert pending(engine) == 0


def test_the_edge_year_is_fine_where_it_has_a_utc_equivalent(client, engine):
    for moment in ("0001-01-01T00:00:00Z", "0001-01-01T05:00:00+05:00", "9999-12-31T23:59Z"):
        body = {"userId": "u", "event": "e", "timestamp": moment}
        assert post(client, "/v1/track", body).status_code == 200
    assert pending(engine) == 3


def test_a_deep_single_call_is_refused_too(client, engine):
    deep = b"[" * 1000 + b"]" * 1000
    body = b'{"userId": "u", "event": "e", "properties": {"p": ' + deep + b"}}"
    r = client.post("/v1/track", content=body, auth=(KEY, ""))
    assert (r.status_code, r.json()["code"]) == (400, "too_deep")
    assert pending(engine) == 0


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_nesting_beyond_the_limit_is_refused(client, engine, path):
    # A message (itself the first level) nests at most 64 levels; 300 was a 500 when the
    # hub encoded it again.
    def call(depth: int):
        msg = {"type": "track", "userId": "u", "event": "e", "properties": nested(depth - 1)}
        body = {"batch": [msg]} if path == "/v1/batch" else msg
        # orjson writes no more than 254 levels; the standard library does.
        return client.post(path, content=json.dumps(body), auth=(KEY, ""))

    assert call(64).status_code == 200
    for depth in (65, 300):
        r = call(depth)
        assert (r.status_code, r.json()["code"]) == (400, "too_deep"), r.text
        assert "deeper than 64 levels" in r.json()["message"]
    assert pending(engine) == 1


def test_oversized_event_and_batch(client, engine):
    big = {"type": "track", "userId": "u", "event": "e", "properties": {"x": "y" * 33_000}}
    r = post(client, "/v1/track", big)
    assert (r.status_code, r.json()["code"]) == (413, "event_too_large")
    many = {
        "batch": [
            {"type": "track", "userId": "u", "event": "e", "properties": {"x": "y" * 20_000}}
            for _ in range(30)
        ]
    }
    r = post(client, "/v1/batch", many)
    assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
    assert pending(engine) == 0


def test_gzip_bomb_is_refused_cheaply(client, engine):
    bomb = gzip.compress(b"{" + b" " * 50_000_000 + b"}", compresslevel=9)
    assert len(bomb) < 100_000
    r = client.post("/v1/batch", content=bomb, auth=(KEY, ""), headers={"Content-Encoding": "gzip"})
    assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
    r = client.post(
        "/v1/batch", content=b"not gzip", auth=(KEY, ""), headers={"Content-Encoding": "gzip"}
    )
    assert (r.status_code, r.json()["code"]) == (400, "invalid_gzip")


def test_wrong_or_missing_write_key(client, engine):
    body = orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "e"}]})
    r = client.post("/v1/batch", content=body, auth=("wrong", ""))
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    assert "wrong" not in r.text
    r = client.post("/v1/batch", content=body)
    assert r.status_code == 401
    bad = "Basic " + base64.b64encode(b"\xff\xfe").decode()
    r = client.post("/v1/batch", content=body, headers={"Authorization": bad})
    assert r.status_code == 401
    assert pending(engine) == 0


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    post(client, "/v1/track", {"userId": "u", "event": "e"})
    client.post("/v1/track", content=b"{", auth=(KEY, ""))
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers={"Authorization": "Bearer admin-secret"}).text
    assert 'spokehub_events_accepted_total{source="web"} 1.0' in text
    assert 'spokehub_requests_rejected_total{code="invalid_json"} 1.0' in text
    assert "spokehub_pipeline_lag_seconds" in text
    assert "spokehub_inbox_pending 1.0" in text


def test_profile_api_needs_the_admin_token(client):
    assert client.get("/v1/profiles/abc").status_code == 401
    r = client.get("/v1/profiles/abc", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = client.get("/v1/profiles/abc", headers={"Authorization": "Bearer admin-secret"})
    assert r.status_code == 404
    r = client.get(
        "/v1/profiles",
        params={"identifier": "nonsense"},
        headers={"Authorization": "Bearer admin-secret"},
    )
    assert r.status_code == 422


def test_openapi_describes_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/v1/batch",
        "/v1/track",
        "/v1/identify",
        "/v1/webhooks/{connection}",
        "/v1/profiles",
        "/v1/profiles/{contact_id}",
        "/v1/profiles/{contact_id}/events",
        "/v1/profiles/{contact_id}/explain",
        "/v1/profiles/{contact_id}/unmerge",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert p in paths
